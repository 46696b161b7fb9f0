/**
 * The poller on the real cluster (issue 7, "What must show"), in phases like KEDA's tests: an
 * unchanged Lambda-style SQS handler fed from a JetStream work queue (`natsQueue`, `recordFormat:
 * sqs`, `ReportBatchItemFailures`) is activated from zero, scaled out by a backlog of thousands,
 * scaled in and back to zero, with every message accounted for exactly once; a sub-minute
 * `schedule` fires once per tick with two poller replicas and after one of them is killed.
 *
 * What the functions did is read back through NATS (the chart's, through a forward): poison
 * records arrive in the mapping's `nats:` onFailure subject, schedule ticks in the ticker's async
 * `nats:` onSuccess subject. The work queue keeps a message until it is acked, so an empty stream
 * whose consumer acked up to the last sequence means every good message was processed and acked;
 * onFailure holding each poison message exactly once means none was given up on or sent twice.
 */
import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager, RetentionPolicy, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { RecordCollector } from '../integration/support/async-pipeline.js';
import { caughtUp } from './support/settled.js';
import { API, fnManifest, SYSTEM_NS, waitReady, type Forward } from './support/gateway.js';
import { apply, cluster, createNamespace, dumpNamespace, forward, kubectl, waitFor } from './support/kube.js';
import { connectNats, tenantCreds } from './support/nats.js';

// An unchanged SQS handler: bodies are JSON {id, poison?, sleep}; poison ones are reported failed.
const WORKER = `
exports.handler = async (event) => {
  const batchItemFailures = [];
  for (const record of event.Records) {
    if (record.eventSource !== 'aws:sqs') throw new Error('not an SQS record: ' + JSON.stringify(record));
    const msg = JSON.parse(record.body);
    if (msg.sleep) await new Promise((r) => setTimeout(r, msg.sleep));
    if (msg.poison) batchItemFailures.push({ itemIdentifier: record.messageId });
  }
  return { batchItemFailures };
};`;

const TICKER = `exports.handler = async (event) => ({ tick: event.time, id: event.id });`;

interface Deploy {
  spec: { replicas?: number };
  status: { readyReplicas?: number; replicas?: number };
}

interface SqsRecord {
  messageId: string;
  body: string;
  eventSource: string;
  eventSourceARN: string;
  attributes: Record<string, string>;
}

describe('the poller on the real cluster', () => {
  let ns = '';
  let removeNs: () => Promise<void> = () => Promise.resolve();
  let natsFwd: Forward | undefined;
  let nc: NatsConnection | undefined;
  let jsm: JetStreamManager | undefined;
  let collector: RecordCollector | undefined;
  const tag = randomBytes(3).toString('hex');
  const outStream = `E2E_ESM_OUT_${tag.toUpperCase()}`;
  const queueStream = `E2E_ESM_Q_${tag.toUpperCase()}`;
  const queueSubject = `e2eq.${tag}.jobs`;
  const failedSubject = `e2e.${tag}.failed`;
  const tickSubject = `e2e.${tag}.ticks`;
  const published = { good: new Set<number>(), poison: new Set<number>() };
  let nextId = 0;
  let lastSeq = 0;
  const dumpOnFailure = (): void => onTestFailed(() => dumpNamespace(ns));

  const deployment = async (fn: string): Promise<Deploy | undefined> => {
    const r = await kubectl([
      '-n',
      ns,
      'get',
      'deploy',
      '-l',
      `sluice.dev/function=${fn},sluice.dev/version=latest`,
      '-o',
      'json',
    ]);
    if (r.code !== 0) return undefined;
    return (JSON.parse(r.stdout) as { items: Deploy[] }).items[0];
  };

  /** The poller replicas that are Ready and not terminating. */
  const livePollers = async (): Promise<string[]> => {
    const pods = await cluster().core.listNamespacedPod({
      namespace: SYSTEM_NS,
      labelSelector: 'app.kubernetes.io/name=sluice-poller',
    });
    return pods.items
      .filter(
        (p) =>
          !p.metadata?.deletionTimestamp &&
          p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      )
      .map((p) => p.metadata!.name!)
      .sort();
  };

  /** Publishes `count` messages to the queue, every `poisonEvery`-th one poison. */
  const publish = async (count: number, poisonEvery: number, sleep: number): Promise<void> => {
    const js = jetstream(nc!);
    const acks = [];
    for (let i = 0; i < count; i++) {
      const id = nextId++;
      const poison = id % poisonEvery === poisonEvery - 1;
      (poison ? published.poison : published.good).add(id);
      acks.push(js.publish(queueSubject, JSON.stringify({ id, poison, sleep })));
      if (acks.length >= 200)
        lastSeq = Math.max(lastSeq, ...(await Promise.all(acks.splice(0))).map((a) => a.seq));
    }
    lastSeq = Math.max(lastSeq, ...(await Promise.all(acks)).map((a) => a.seq));
  };

  /** Waits until the queue is drained: the stream is empty and the consumer acked everything. */
  const drained = async (timeoutMs: number): Promise<void> => {
    await waitFor(
      'the work queue to be drained and acked',
      async () => {
        const si = await jsm!.streams.info(queueStream);
        const ci = await jsm!.consumers.info(queueStream, `sluice-esm-${ns}-jobs`);
        return si.state.messages === 0 &&
          ci.num_pending === 0 &&
          ci.num_ack_pending === 0 &&
          ci.ack_floor.stream_seq === lastSeq
          ? true
          : undefined;
      },
      timeoutMs,
    );
  };

  /**
   * Every poison message published so far is in onFailure exactly once, and nothing else is.
   * Nothing more can follow once the queue is drained (a failure record is published before its
   * message is acked) and the collector holds every record its stream has.
   */
  const failuresExact = async (timeoutMs: number): Promise<void> => {
    const ids = (): number[] =>
      collector!.of(failedSubject).map((r) => {
        const rec = (r.requestPayload as { Records: SqsRecord[] }).Records[0]!;
        return (JSON.parse(rec.body) as { id: number }).id;
      });
    await waitFor(
      `${published.poison.size} poison records in onFailure`,
      () => Promise.resolve(ids().length >= published.poison.size ? true : undefined),
      timeoutMs,
    );
    await drained(timeoutMs);
    await caughtUp(jsm!, collector!, outStream, timeoutMs);
    const seen = ids();
    expect(seen.filter((id) => !published.poison.has(id))).toEqual([]); // no good message failed
    expect(seen.length).toBe(published.poison.size); // each poison message exactly once
    expect(new Set(seen)).toEqual(published.poison);
    for (const r of collector!.of(failedSubject)) {
      // approximateInvokeCount is JetStream's delivery count, as ApproximateReceiveCount: two
      // receives (maximumRetryAttempts: 1) — or more when the mapping moved between replicas,
      // which hands its gathered records back uninvoked (poller/sources/nats-queue.ts stop()):
      // a receive that never reached the function still counts toward the retries.
      expect(r.requestContext).toMatchObject({ condition: 'RetriesExhausted' });
      const rec = (r.requestPayload as { Records: SqsRecord[] }).Records[0]!;
      expect((r.requestContext as { approximateInvokeCount: number }).approximateInvokeCount).toBe(
        Number(rec.attributes.ApproximateReceiveCount),
      );
      expect(rec).toMatchObject({
        eventSource: 'aws:sqs',
        eventSourceARN: expect.stringContaining(`:${ns}:${queueStream}`),
        attributes: { SenderId: 'sluice' },
      });
      expect(Number(rec.attributes.ApproximateReceiveCount)).toBeGreaterThanOrEqual(2);
      expect(rec.messageId).toMatch(/^[0-9a-f-]{36}$/);
    }
  };

  beforeAll(async () => {
    const created = await createNamespace('e2e-esm');
    ns = created.name;
    removeNs = created.remove;
    natsFwd = await forward(`svc/${SYSTEM_NS}/sluice-nats:4222`);
    // The namespace's own account: its streams, and the records of its nats: destinations.
    nc = await connectNats(natsFwd, await tenantCreds(ns));
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: queueStream,
      subjects: [queueSubject],
      retention: RetentionPolicy.Workqueue,
    });
    collector = await RecordCollector.start(nc, outStream, [`e2e.${tag}.>`]);
    await Promise.all([
      apply(
        fnManifest(ns, 'worker', {
          code: { inline: WORKER },
          timeoutSeconds: 10,
          scaling: { minReplicas: 0, maxReplicas: 3, concurrencyPerPod: 1, scaleToZeroAfterSeconds: 20 },
        }),
      ),
      apply(
        fnManifest(ns, 'ticker', {
          code: { inline: TICKER },
          scaling: { minReplicas: 1, maxReplicas: 1 },
          async: { maxRetryAttempts: 0, onSuccess: `nats:${tickSubject}` },
        }),
      ),
    ]);
    await waitReady(ns, 'ticker');
    await apply({
      apiVersion: API,
      kind: 'EventSourceMapping',
      metadata: { name: 'jobs', namespace: ns },
      spec: {
        function: 'worker',
        source: { natsQueue: { stream: queueStream } },
        recordFormat: 'sqs',
        batchSize: 10,
        functionResponseTypes: ['ReportBatchItemFailures'],
        maximumRetryAttempts: 1,
        onFailure: `nats:${failedSubject}`,
      },
    });
  });

  afterAll(async () => {
    collector?.stop();
    if (ns) {
      // Mappings first (their finalizer deletes the consumer), then the namespace.
      await kubectl(['-n', ns, 'delete', 'esm', '--all', '--wait=true', '--timeout=30s']);
    }
    if (jsm) {
      await jsm.streams.delete(queueStream).catch(() => undefined);
      await jsm.streams.delete(outStream).catch(() => undefined);
    }
    await nc?.close();
    await natsFwd?.stop();
    await removeNs();
  });

  it('activation: no pods while idle; messages scale the worker 0→1 and get processed', async () => {
    dumpOnFailure();
    const idle = await waitFor('the worker Deployment at 0 replicas', async () => {
      const d = await deployment('worker');
      return d && (d.spec.replicas ?? 1) === 0 ? d : undefined;
    });
    expect(idle.status.readyReplicas ?? 0).toBe(0);
    await waitFor('the jobs mapping to be Enabled', async () => {
      const r = await kubectl(['-n', ns, 'get', 'esm', 'jobs', '-o', 'jsonpath={.status.state}']);
      return r.stdout === 'Enabled' ? true : undefined;
    });
    // Still zero: an enabled mapping with an empty queue is no demand.
    expect((await deployment('worker'))?.spec.replicas).toBe(0);

    await publish(20, 10, 0);
    await waitFor(
      'the worker to scale 0→1',
      async () => {
        const d = await deployment('worker');
        return (d?.spec.replicas ?? 0) >= 1 ? true : undefined;
      },
      30_000,
      250,
    );
    await drained(60_000);
    await failuresExact(30_000);
  });

  it('scale-out: a backlog of thousands runs on several pods; then scale-in and back to zero', async () => {
    dumpOnFailure();
    let maxSpec = 0;
    let maxReady = 0;
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const d = await deployment('worker').catch(() => undefined);
        maxSpec = Math.max(maxSpec, d?.spec.replicas ?? 0);
        maxReady = Math.max(maxReady, d?.status.readyReplicas ?? 0);
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const t0 = Date.now();
    await publish(2400, 100, 15);
    await drained(120_000);
    const drainMs = Date.now() - t0;
    watching = false;
    await watch;
    console.log(
      `2400 messages drained in ${drainMs} ms; max replicas: ${maxSpec} desired, ${maxReady} ready`,
    );
    expect(maxSpec).toBeGreaterThan(1);
    expect(maxReady).toBeGreaterThan(1);
    expect(maxSpec).toBeLessThanOrEqual(3);
    await failuresExact(30_000);

    // Scale-in after the stable window (60 s) and to zero after 20 s without demand.
    const zeroAt = await waitFor(
      'the worker to scale back to zero',
      async () => {
        const d = await deployment('worker');
        return d && d.spec.replicas === 0 && (d.status.replicas ?? 0) === 0 ? Date.now() : undefined;
      },
      150_000,
      1000,
    );
    console.log(`back to zero ${Math.round((zeroAt - t0 - drainMs) / 1000)} s after the backlog was drained`);
    // Nothing was lost or re-run while pods went away.
    await failuresExact(5_000);
    const si = await jsm!.streams.info(queueStream);
    expect(si.state.messages).toBe(0);
    expect(published.good.size + published.poison.size).toBe(lastSeq);
  }, 300_000);

  it('a rate(5 seconds) schedule fires once per tick with two poller replicas, and after one is killed', async () => {
    dumpOnFailure();
    // Two live poller replicas (a pod killed by an earlier run may still be terminating).
    await waitFor('two ready poller replicas', async () =>
      (await livePollers()).length === 2 ? true : undefined,
    );
    await apply({
      apiVersion: API,
      kind: 'EventSourceMapping',
      metadata: { name: 'every5s', namespace: ns },
      spec: { function: 'ticker', source: { schedule: { expression: 'rate(5 seconds)' } } },
    });

    const ticks = (): number[] =>
      collector!
        .of(tickSubject)
        .map((r) => Date.parse((r.requestPayload as { time: string }).time))
        .sort((a, b) => a - b);
    /** Ticks are distinct, 5 s apart with no gap, and there are about as many as the time allows. */
    const checkTicks = (from: number, to: number): void => {
      const all = ticks();
      expect(new Set(all).size).toBe(all.length); // no tick fired twice
      const seen = all.filter((t) => t >= from && t <= to);
      for (let i = 1; i < seen.length; i++) expect(seen[i]! - seen[i - 1]!).toBe(5000);
      const expected = Math.floor((to - from) / 5000);
      expect(seen.length).toBeGreaterThanOrEqual(expected - 1);
      expect(seen.length).toBeLessThanOrEqual(expected + 1);
    };
    const waitTicksUntil = (t: number): Promise<true> =>
      waitFor(
        `schedule ticks up to ${new Date(t).toISOString()}`,
        () => Promise.resolve((ticks().at(-1) ?? 0) >= t ? true : undefined),
        60_000,
        500,
      );

    const first = await waitFor('the first tick', () => Promise.resolve(ticks()[0]), 60_000, 500);
    await waitTicksUntil(first + 30_000);
    checkTicks(first, first + 30_000);

    // Kill the replica that owns the mapping; the other one takes over.
    const owner = (await kubectl(['-n', ns, 'get', 'esm', 'every5s', '-o', 'jsonpath={.status.owner}']))
      .stdout;
    expect(owner).toMatch(/^sluice-poller-/);
    const killedAt = Date.now();
    const del = await kubectl(['-n', SYSTEM_NS, 'delete', 'pod', owner, '--wait=false']);
    expect(del.code).toBe(0);
    await waitTicksUntil(killedAt + 30_000);
    // A late duplicate of a tick would come from the takeover (the killed owner's last fire and the
    // new owner's); the schedule moving on by one more tick means every tick before it has settled.
    const settled = ticks().at(-1)!;
    await waitTicksUntil(settled + 5000);
    checkTicks(first, settled);
    const all = ticks();
    expect(all.filter((t) => t > killedAt).length).toBeGreaterThanOrEqual(6);
  }, 180_000);
});
