import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { trace } from '@opentelemetry/api';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayAuthenticator, MapAccessKeys, type TokenReviewer } from '../../gateway/auth/authenticator.js';
import type { Principal } from '../../gateway/auth/principal.js';
import { MemoryCatalog } from '../../gateway/catalog/catalog.js';
import { buildGateway, DEFAULT_SETTINGS, type Gateway } from '../../gateway/gateway.js';
import type { PodClient, PodRequest, PodResponse } from '../../gateway/invoke/pod-client.js';
import { DEFAULT_CONCURRENCY_BUCKET, KvSharedCounter } from '../../gateway/limits/kv-counter.js';
import { ConcurrencyLimiter, StaticPeers } from '../../gateway/limits/limiter.js';
import { EndpointTable, workloadKey } from '../../gateway/routing/router.js';
import {
  FakeScaler,
  fnResource,
  ListPublishAuthorizer,
  MemoryVersionStore,
  silentLogger,
} from '../support/gateway/fakes.js';
import { budget } from '../support/time.js';
import { NatsServer } from './support/nats.js';

// Reserved concurrency as ONE number across gateway replicas: three gateways built in-process,
// each with its own KvSharedCounter on a real nats-server (connected with the gateway's
// permission list), in front of one fake "pod" that counts the calls executing at once.

const KEY = { id: 'AKIDCONCURRENCY', secret: 'concurrency-secret' };
const CALLER: Principal = { kind: 'serviceaccount', namespace: 'default', name: 'tester' };
const NO_TOKENS: TokenReviewer = { review: () => Promise.resolve(undefined) };

/** One function's executions, all replicas together; each call waits until the gate opens. */
class GatedPods implements PodClient {
  running = 0;
  max = 0;
  ran = 0;
  private gate!: Promise<void>;
  open!: () => void;
  constructor() {
    this.close();
  }
  close(): void {
    this.gate = new Promise<void>((r) => (this.open = r));
  }
  async invoke(_address: string, req: PodRequest): Promise<PodResponse> {
    this.running++;
    this.ran++;
    this.max = Math.max(this.max, this.running);
    try {
      await this.gate;
      return { status: 200, headers: {}, body: req.body };
    } finally {
      this.running--;
    }
  }
}

const REPLICAS = 3;
let server: NatsServer;
const conns: NatsConnection[] = [];
const counters: KvSharedCounter[] = [];
const gateways: Gateway[] = [];
const clients: LambdaClient[] = [];
const pods = new GatedPods();

beforeAll(async () => {
  server = await NatsServer.start();
  const functions = [
    fnResource('four', {
      timeoutSeconds: 60,
      concurrency: { reserved: 4 },
      scaling: { concurrencyPerPod: 100 },
    }),
    fnResource('two', {
      timeoutSeconds: 60,
      concurrency: { reserved: 2 },
      scaling: { concurrencyPerPod: 100 },
    }),
  ];
  for (let i = 0; i < REPLICAS; i++) {
    const nc = await server.connect('gateway');
    conns.push(nc);
    const counter = new KvSharedCounter(`gateway-${i}`, DEFAULT_CONCURRENCY_BUCKET);
    await counter.attach(jetstream(nc));
    counters.push(counter);
    const table = new EndpointTable();
    for (const name of ['four', 'two']) table.set(workloadKey('default', name, '$LATEST'), ['pod:8080']);
    const keys = new MapAccessKeys();
    keys.set(KEY.id, { secretAccessKey: KEY.secret, principal: CALLER });
    const gateway = buildGateway(
      {
        catalog: new MemoryCatalog(functions),
        router: table,
        scaler: new FakeScaler(table, () => [], 10),
        // Each replica knows it is one of three: without the shared counter it would admit its share.
        peers: new StaticPeers(REPLICAS, i),
        concurrency: counter,
        auth: new GatewayAuthenticator({ tokens: NO_TOKENS, keys }),
        pods,
        versions: new MemoryVersionStore(),
        publishAuthorizer: new ListPublishAuthorizer(() => false),
        registry: new Registry(),
        tracer: trace.getTracer('test'),
        log: silentLogger(),
      },
      { ...DEFAULT_SETTINGS, defaultNamespace: 'default', region: 'us-east-1', activationPollMs: 50 },
    );
    await new Promise<void>((r) => gateway.server.listen(0, '127.0.0.1', () => r()));
    gateways.push(gateway);
    clients.push(
      new LambdaClient({
        region: 'us-east-1',
        endpoint: `http://127.0.0.1:${(gateway.server.address() as { port: number }).port}`,
        credentials: { accessKeyId: KEY.id, secretAccessKey: KEY.secret },
        maxAttempts: 1,
      }),
    );
  }
}, budget(60_000));

afterAll(async () => {
  pods.open();
  for (const c of clients) c.destroy();
  for (const g of gateways) {
    g.server.closeAllConnections();
    await new Promise<void>((r) => g.server.close(() => r()));
  }
  for (const c of counters) c.close();
  for (const c of conns) await c.close().catch(() => undefined);
  await server?.cleanup();
});

type Answer =
  | { ok: true }
  | { ok: false; status?: number; name: string; reason?: string; runningAtAnswer: number };

async function call(replica: number, fn: string, i: number): Promise<Answer> {
  try {
    await clients[replica]!.send(
      new InvokeCommand({ FunctionName: fn, Payload: Buffer.from(JSON.stringify({ i })) }),
    );
    return { ok: true };
  } catch (err) {
    const e = err as { name: string; Reason?: string; $metadata?: { httpStatusCode?: number } };
    return {
      ok: false,
      status: e.$metadata?.httpStatusCode,
      name: e.name,
      ...(e.Reason ? { reason: e.Reason } : {}),
      runningAtAnswer: pods.running,
    };
  }
}

describe('reserved concurrency across gateway replicas', { timeout: budget(60_000) }, () => {
  it('reserved 4, 40 concurrent calls over 3 gateways: at most 4 run, the rest get 429 only while 4 run', async () => {
    pods.close();
    const calls = Array.from({ length: 40 }, (_, i) => call(i % REPLICAS, 'four', i));
    // The admitted calls hold the pod until every other call has been answered.
    let answered = 0;
    for (const p of calls) void p.then(() => answered++);
    await waitFor(() => answered + pods.running === 40 && pods.running > 0);
    pods.open();
    const answers = await Promise.all(calls);
    const refused = answers.filter((a): a is Extract<Answer, { ok: false }> => !a.ok);
    const report = {
      maxConcurrent: pods.max,
      admitted: answers.length - refused.length,
      throttled: refused.length,
      runningAtEach429: [...new Set(refused.map((r) => r.runningAtAnswer))],
    };
    console.log('reserved 4 over 3 gateways:', JSON.stringify(report));
    expect(pods.max).toBe(4);
    expect(report.admitted).toBe(4);
    expect(refused).toHaveLength(36);
    for (const r of refused) {
      expect(r).toMatchObject({
        status: 429,
        name: 'TooManyRequestsException',
        reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
        runningAtAnswer: 4,
      });
    }

    // Every slot was given back: four calls fit again, wherever they arrive.
    pods.close();
    // All four through replica 2, whose per-replica share would be 1.
    const again = [2, 2, 2, 2].map((r, i) => call(r, 'four', 100 + i));
    await waitFor(() => pods.running === 4);
    expect(await call(1, 'four', 200)).toMatchObject({ ok: false, status: 429, runningAtAnswer: 4 });
    pods.open();
    expect(await Promise.all(again)).toEqual([{ ok: true }, { ok: true }, { ok: true }, { ok: true }]);
  });

  it('reserved 2 with 3 replicas (a per-replica share of 0 for one of them): a call through any gateway is admitted when nothing runs', async () => {
    pods.open();
    const before = pods.ran;
    for (let r = 0; r < REPLICAS; r++) expect(await call(r, 'two', r)).toEqual({ ok: true });
    expect(pods.ran - before).toBe(REPLICAS);
    // and two at once through the replica whose share would be 0
    pods.close();
    const two = [call(2, 'two', 10), call(2, 'two', 11)];
    await waitFor(() => pods.running === 2);
    expect(await call(0, 'two', 12)).toMatchObject({ ok: false, status: 429, runningAtAnswer: 2 });
    pods.open();
    expect(await Promise.all(two)).toEqual([{ ok: true }, { ok: true }]);
  });
});

async function waitFor(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + budget(10_000);
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('KvSharedCounter on nats-server', { timeout: budget(30_000) }, () => {
  const fast = {
    ...DEFAULT_CONCURRENCY_BUCKET,
    ttlMs: 600,
    heartbeatMs: 150,
  };

  it('a live replica keeps its calls counted past the TTL; a crashed one stops counting after it', async () => {
    const [live, crashed, other] = ['live', 'crashed', 'other'].map((id) => new KvSharedCounter(id, fast));
    for (const c of [live!, crashed!, other!]) {
      await c.attach(jetstream(conns[0]!));
      counters.push(c);
    }
    expect(await live!.tryAcquire('default/ttl', 2)).toBe(true);
    expect(await crashed!.tryAcquire('default/ttl', 2)).toBe(true);
    expect(await other!.tryAcquire('default/ttl', 2)).toBe(false);
    crashed!.close(); // no more heartbeats, its call is never released
    await new Promise((r) => setTimeout(r, fast.ttlMs * 2));
    // the live replica's call still counts (heartbeats), the crashed one's no longer does
    expect(await other!.tryAcquire('default/ttl', 2)).toBe(true);
    expect(await other!.tryAcquire('default/ttl', 2)).toBe(false);
    await live!.release('default/ttl');
    expect(await other!.tryAcquire('default/ttl', 2)).toBe(true);
  });

  it('answers unavailable at once for a while after NATS fails, then tries again', async () => {
    let now = 1_000_000;
    const nc = await server.connect('gateway');
    const c = new KvSharedCounter('closing', fast, () => now);
    await c.attach(jetstream(nc));
    counters.push(c);
    expect(await c.tryAcquire('default/down', 1)).toBe(true);
    await nc.close();
    expect(await c.tryAcquire('default/down', 5)).toBe('unavailable');
    const t = performance.now();
    expect(await c.tryAcquire('default/down', 5)).toBe('unavailable');
    expect(performance.now() - t).toBeLessThan(50);
    now += fast.downForMs + 1;
    const again = await server.connect('gateway');
    conns.push(again);
    await c.attach(jetstream(again));
    // the count it holds is still its own, written with the next acquire
    expect(await c.tryAcquire('default/down', 2)).toBe(true);
    expect(await c.tryAcquire('default/down', 2)).toBe(false);
  });

  it('answers unavailable until attached, and the limiter then enforces the per-replica share', async () => {
    const detached = new KvSharedCounter('detached', fast);
    expect(await detached.tryAcquire('default/x', 5)).toBe('unavailable');
    let fallbacks = 0;
    const limiter = new ConcurrencyLimiter(new StaticPeers(3, 2), Infinity, detached, {
      fallback: () => fallbacks++,
    });
    await limiter.acquire('default', 'x', 4); // replica 2 of 3: a share of 1 of 4
    await expect(limiter.acquire('default', 'x', 4)).rejects.toMatchObject({
      reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
    });
    expect(fallbacks).toBe(2);
  });
});
