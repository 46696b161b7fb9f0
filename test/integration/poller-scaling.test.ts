import { RetentionPolicy } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Autoscaler,
  type ScaleTarget,
  type Workload,
  type WorkloadView,
} from '../../poller/autoscaler/autoscaler.js';
import type { Decision } from '../../poller/autoscaler/decide.js';
import { JetStreamDemand } from '../../poller/autoscaler/demand.js';
import { SOURCES } from '../../poller/sources/index.js';
import { FakeInvoker, ok } from '../support/poller/fake-invoker.js';
import { makeKit, mapping, type Kit } from '../support/poller/kit.js';
import { budget, sleep, until } from '../support/time.js';
import { NatsServer } from './support/nats.js';

// KEDA-style phases against real JetStream backlogs and a fake scale target: activation (0→1),
// scale-out under a backlog of thousands, scale-in and back to zero after the idle window — and
// every message processed exactly once across all of it.

/** A Deployment's replicas in memory; pods are ready at once. */
class FakeDeployment implements WorkloadView, ScaleTarget {
  replicas = 0;
  history: { at: number; replicas: number; reason: string }[] = [];
  constructor(private readonly maxReplicas: number) {}
  workloads(): Workload[] {
    return [
      {
        namespace: 'shop',
        function: 'worker',
        version: '$LATEST',
        deployment: 'worker-latest',
        replicas: this.replicas,
        readyReplicas: this.replicas,
        policy: {
          minReplicas: 0,
          maxReplicas: this.maxReplicas,
          concurrencyPerPod: 1,
          scaleToZeroAfterSeconds: 3,
        },
      },
    ];
  }
  scale(_w: Workload, replicas: number, d: Decision): Promise<void> {
    this.replicas = replicas;
    this.history.push({ at: Date.now(), replicas, reason: d.reason });
    return Promise.resolve();
  }
}

let server: NatsServer;
let kit: Kit;

beforeAll(async () => {
  server = await NatsServer.start();
  kit = await makeKit(server);
});

afterAll(async () => {
  await kit?.close();
  await server?.cleanup();
});

/** Waits of 5 + 15 + 10 + 30 + 15 s (scaled), one after another. */
const TEST_TIMEOUT = budget(90_000);

describe('autoscaling phases', { timeout: TEST_TIMEOUT }, () => {
  it('activation, scale-out, scale-in, scale-to-zero; nothing lost, nothing processed twice', async () => {
    await kit.jsm.streams.add({ name: 'LOAD', subjects: ['load.>'], retention: RetentionPolicy.Workqueue });
    const deployment = new FakeDeployment(8);
    const processed = new Map<number, number>();
    let throttled = 0;
    let maxDelivery = 0;
    // Each replica runs one call at a time; with no capacity the "gateway" answers 429.
    const invoker = new FakeInvoker(async (event) => {
      if (invoker.inFlight > deployment.replicas) {
        throttled++;
        return { kind: 'throttled', message: 'no capacity', retryAfterMs: 50 };
      }
      await new Promise((r) => setTimeout(r, 5));
      for (const r of (event as { Records: { nats: { data: string; deliveryCount: number } }[] }).Records) {
        maxDelivery = Math.max(maxDelivery, r.nats.deliveryCount);
        const n = Number(Buffer.from(r.nats.data, 'base64').toString());
        processed.set(n, (processed.get(n) ?? 0) + 1);
      }
      return ok(null);
    });
    const m = mapping({
      function: 'worker',
      source: { natsQueue: { stream: 'LOAD' } },
      batchSize: 10,
      maximumConcurrency: 20,
    });
    const source = SOURCES.natsQueue.create(m, kit.deps(invoker));
    await source.start();
    // Ticks one after another, 200 ms apart; the autoscaler's clock moves 200 ms per tick, whatever
    // the machine's pace: its windows (2 s stable, 3 s idle) are counted in ticks, so a stall
    // cannot skip a phase.
    let ticks = 0;
    const autoscaler = new Autoscaler({
      view: deployment,
      target: deployment,
      demand: new JetStreamDemand({
        jsm: kit.jsm,
        tenants: kit.tenants,
        mappings: () => [m],
        resolve: () => [{ version: '$LATEST', weight: 1 }],
        inflight: () => new Map([['shop/worker/$LATEST', invoker.inFlight]]),
      }),
      windows: { stableWindowMs: 2000, burstWindowMs: 10_000, burstReplicas: 100 },
      metrics: kit.metrics,
      log: kit.log,
      now: () => ticks * 200,
    });
    let ticking = true;
    const ticker = (async (): Promise<void> => {
      while (ticking) {
        ticks++;
        await autoscaler.tick();
        await sleep(200);
      }
    })();
    try {
      // Activation: one message takes the function from 0 to 1.
      await kit.js.publish('load.x', '0');
      await until(() => deployment.replicas === 1, 'activation', 5000);
      expect(deployment.history[0]?.reason).toMatch(/activation/);
      await until(() => processed.get(0) === 1, 'the first message');

      // Scale-out: thousands of messages take it to the maximum.
      const N = 3000;
      await Promise.all(Array.from({ length: N }, (_, i) => kit.js.publish('load.x', String(i + 1))));
      await until(() => deployment.replicas === 8, 'scale-out to maxReplicas', 10_000);
      const out = deployment.history.find((h) => h.replicas === 8);
      expect(out?.reason).toMatch(/scale-out|bounded by maxReplicas/);

      // Drain, then scale-in and back to zero after the idle window.
      await until(() => processed.size === N + 1, 'every message processed', 30_000);
      await until(() => deployment.replicas === 0, 'scale to zero', 15_000);
      const afterPeak = deployment.history.slice(deployment.history.indexOf(out!));
      expect(afterPeak.some((h) => /keeping 1 warm|scale-in/.test(h.reason))).toBe(true);
      expect(afterPeak[afterPeak.length - 1]?.reason).toMatch(/scale-to-zero/);

      expect([...processed.values()].every((c) => c === 1)).toBe(true);
      expect((await kit.jsm.streams.info('LOAD')).state.messages).toBe(0);
      expect(await source.backlog()).toBe(0);
      expect(autoscaler.decisions().map((d) => d.to)).toEqual(deployment.history.map((h) => h.replicas));
      // Throttled calls (while capacity lagged) were retried in place: no record was redelivered.
      expect(throttled).toBeGreaterThan(0);
      expect(maxDelivery).toBe(1);
    } finally {
      ticking = false;
      await ticker;
      await source.close();
    }
  });

  it('a missing consumer holds replicas: no scale to max, no scale to zero', async () => {
    const deployment = new FakeDeployment(20);
    deployment.replicas = 2;
    const m = mapping({
      function: 'worker',
      source: { natsQueue: { stream: 'LOAD', consumer: 'does-not-exist' } },
    });
    const autoscaler = new Autoscaler({
      view: deployment,
      target: deployment,
      demand: new JetStreamDemand({
        jsm: kit.jsm,
        tenants: kit.tenants,
        mappings: () => [m],
        resolve: () => [{ version: '$LATEST', weight: 1 }],
        inflight: () => new Map(),
      }),
      windows: { stableWindowMs: 0, burstWindowMs: 10_000, burstReplicas: 100 },
      metrics: kit.metrics,
      log: kit.log,
    });
    for (let i = 0; i < 3; i++) await autoscaler.tick();
    expect(deployment.replicas).toBe(2);
    expect(deployment.history).toEqual([]);
  });
});
