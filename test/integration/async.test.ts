import { createServer, type Server } from 'node:http';
import { propagation, SpanKind } from '@opentelemetry/api';
import { core, tracing } from '@opentelemetry/sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AsyncPayloadTooLargeError } from '../../gateway/async/errors.js';
import { FakeInvoker } from '../support/gateway/fake-invoker.js';
import type { InvokeRequest } from '../../gateway/async/invoker.js';
import type { InvocationRecord } from '../../api/records.js';
import { NatsServer } from './support/nats.js';
import {
  fnResource,
  metricValue,
  pipelineIdle,
  RecordCollector,
  deadLetterRouter,
  serveRouter,
  startPipeline,
  waitFor,
  type RunningPipeline,
} from './support/async-pipeline.js';

// The async pipeline against a real nats-server (temp JetStream dir) with a scripted invoker:
// accept → durable queue → dispatch → retries → destinations / dead letters. Each test runs its
// own pipeline on its own streams; records sent to `nats:results.…` are read back from a stream.

let server: NatsServer;
let results: RecordCollector;
const open: RunningPipeline[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  server = await NatsServer.start();
  const p = await startPipeline(server, { id: 'collector', invoker: new FakeInvoker(), functions: [] });
  open.push(p);
  // nats: records land in the function's namespace account: read them there, as each namespace.
  results = await RecordCollector.start(
    await Promise.all(['shop', 'age', 'zero', 'dl', 'd'].map((ns) => server.connectTenant(ns))),
  );
});
afterAll(async () => {
  results?.stop();
  for (const c of cleanups.splice(0)) await c();
  for (const p of open.splice(0)) await p.close().catch(() => undefined);
  await server?.cleanup();
});

async function pipeline(...args: Parameters<typeof startPipeline>): Promise<RunningPipeline> {
  const p = await startPipeline(...args);
  open.push(p);
  return p;
}

const body = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));
const numberOf = (req: InvokeRequest): number => (JSON.parse(req.payload.toString()) as { n: number }).n;
/** The JSON body of a request (typed loosely: assertions check it). */
const json = async (url: string, init?: RequestInit): Promise<any> => (await fetch(url, init)).json();

/** Accepts events n = 0..count-1 with `parallel` publishes in flight; returns their request ids by n. */
async function acceptMany(
  p: RunningPipeline,
  ns: string,
  fn: string,
  count: number,
  parallel = 200,
  tag = fn,
): Promise<string[]> {
  const ids: string[] = new Array<string>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const n = next++;
      const r = await p.acceptor.acceptEvent({
        namespace: ns,
        function: fn,
        payload: body({ n }),
        requestId: `${tag}-${n}`,
      });
      ids[n] = r.requestId;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return ids;
}

describe('accept', () => {
  it('stores the event before resolving, de-duplicates by Idempotency-Key, rejects oversized payloads', async () => {
    const invoker = new FakeInvoker();
    const p = await pipeline(server, {
      id: 'acc',
      invoker,
      functions: [fnResource('acc', 'echo'), fnResource('acc', 'other')],
    });
    const accept = (fn: string, requestId: string, idempotencyKey?: string) =>
      p.acceptor.acceptEvent({
        namespace: 'acc',
        function: fn,
        payload: body({ n: 1 }),
        requestId,
        ...(idempotencyKey ? { idempotencyKey } : {}),
      });
    const a = await accept('echo', 'req-a', 'order-42');
    const b = await accept('echo', 'req-b', 'order-42');
    expect(a.duplicate).toBe(false);
    expect(b).toEqual({ ...a, duplicate: true });
    // The same key for another function is another event.
    const c = await accept('other', 'req-c', 'order-42');
    expect(c.duplicate).toBe(false);
    expect(c.requestId).not.toBe(a.requestId);
    // Without a key the call's own request id is the event's.
    expect((await accept('echo', 'req-d')).requestId).toBe('req-d');
    // The gateway's AsyncQueue form (its AsyncInvocation) is accepted as is.
    await p.acceptor.enqueue({
      requestId: 'req-gw',
      target: { namespace: 'acc', function: 'echo', qualifier: '$LATEST', qualified: false },
      payload: body({ n: 2 }),
      traceHeaders: { 'x-amz-request-id': 'req-gw' },
      receivedAt: new Date(),
    });

    await waitFor(
      () =>
        invoker.callsOf('acc', 'echo', a.requestId) === 1 &&
        invoker.callsOf('acc', 'echo', 'req-d') === 1 &&
        invoker.callsOf('acc', 'echo', 'req-gw') === 1,
      10_000,
    );
    // Nothing more can run: every event is acknowledged and none is in flight.
    await waitFor(
      () => pipelineIdle(p),
      10_000,
      () => 'the pipeline idle',
    );
    expect(invoker.callsOf('acc', 'echo', a.requestId)).toBe(1);
    expect(await metricValue(p.registry, 'sluice_async_events_received_total', { function: 'echo' })).toBe(3);

    const big = Buffer.alloc(1024 * 1024 + 1, 'a');
    const tooBig = p.acceptor.acceptEvent({
      namespace: 'acc',
      function: 'echo',
      payload: big,
      requestId: 'req-big',
    });
    await expect(tooBig).rejects.toBeInstanceOf(AsyncPayloadTooLargeError);
    await expect(tooBig).rejects.toMatchObject({ status: 413, code: 'RequestTooLargeException' });
    // Exactly 1 MB is accepted and stored.
    const max = await p.acceptor.acceptEvent({
      namespace: 'acc',
      function: 'echo',
      payload: Buffer.from(JSON.stringify({ s: 'x'.repeat(1024 * 1024 - 8) })),
      requestId: 'req-max',
    });
    expect(max.duplicate).toBe(false);
    await expect(
      p.acceptor.acceptEvent({ namespace: 'acc', function: 'no*pe', payload: body({}), requestId: 'x' }),
    ).rejects.toThrow(/not a valid/);
    await expect(accept('echo', 'req-e', 'has space')).rejects.toThrow(/Idempotency-Key/);
  });
});

describe('1,000 events with a known failing subset (maxRetryAttempts 1)', () => {
  it('accounts for every event exactly once: success records, or RetriesExhausted after 2 invocations', async () => {
    const failing = (n: number): boolean => n % 10 === 3;
    const firstCall = new Map<string, number>();
    const retryGaps: number[] = [];
    const invoker = new FakeInvoker((req) => {
      const at = Date.now();
      if (req.approximateInvokeCount === 1) firstCall.set(req.requestId, at);
      else retryGaps.push(at - (firstCall.get(req.requestId) ?? at));
      const n = numberOf(req);
      return failing(n) ? FakeInvoker.error('OrderError', `order ${n} is bad`) : FakeInvoker.ok(req, { n });
    });
    const p = await pipeline(server, {
      id: 'thousand',
      invoker,
      functions: [
        fnResource('shop', 'orders', {
          scaling: { maxReplicas: 50 },
          async: {
            maxRetryAttempts: 1,
            retryDelaySeconds: 1,
            onSuccess: 'nats:results.thousand.ok',
            onFailure: 'nats:results.thousand.failed',
          },
        }),
      ],
    });
    const started = Date.now();
    const ids = await acceptMany(p, 'shop', 'orders', 1000);
    const accepted = Date.now() - started;
    const ok = () => results.of('results.thousand.ok');
    const failed = () => results.of('results.thousand.failed');
    await waitFor(
      () => ok().length + failed().length >= 1000,
      30_000,
      () => `ok ${ok().length} failed ${failed().length}`,
    );
    // Nothing extra (a duplicate) can arrive any more: every event is acknowledged, none is in
    // flight, and every record published has been read.
    await waitFor(
      async () => (await pipelineIdle(p)) && (await results.caughtUp()),
      10_000,
      () => 'the pipeline idle and every record read',
    );
    const elapsed = Date.now() - started;

    const seen = new Map<string, InvocationRecord[]>();
    for (const r of [...ok(), ...failed()])
      seen.set(r.requestContext.requestId, [...(seen.get(r.requestContext.requestId) ?? []), r]);
    expect(seen.size).toBe(1000);
    expect([...seen.values()].filter((l) => l.length > 1)).toEqual([]);
    ids.forEach((id, n) => {
      const [rec] = seen.get(id) ?? [];
      expect(rec, `event ${n}`).toBeDefined();
      if (failing(n)) {
        expect(rec).toMatchObject({
          version: '1.0',
          requestContext: {
            requestId: id,
            functionArn: 'arn:aws:lambda:sluice-local:shop:function:orders:$LATEST',
            condition: 'RetriesExhausted',
            approximateInvokeCount: 2,
          },
          requestPayload: { n },
          responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
          responsePayload: { errorType: 'OrderError', errorMessage: `order ${n} is bad` },
        });
        expect(invoker.callsOf('shop', 'orders', id)).toBe(2);
      } else {
        expect(rec).toMatchObject({
          requestContext: { requestId: id, condition: 'Success', approximateInvokeCount: 1 },
          requestPayload: { n },
          responseContext: { statusCode: 200, executedVersion: '$LATEST' },
          responsePayload: { n },
        });
        expect(rec?.responseContext).not.toHaveProperty('functionError');
        expect(invoker.callsOf('shop', 'orders', id)).toBe(1);
      }
    });
    expect(failed()).toHaveLength(100);
    // The retry waited retryDelaySeconds (1 s), scheduled durably in the stream.
    expect(retryGaps).toHaveLength(100);
    expect(Math.min(...retryGaps)).toBeGreaterThanOrEqual(950);
    expect(invoker.maxConcurrent.get('shop/orders') ?? 0).toBeLessThanOrEqual(50);

    const m = (name: string, labels: Record<string, string>) => metricValue(p.registry, name, labels);
    expect(await m('sluice_async_events_received_total', { function: 'orders' })).toBe(1000);
    expect(
      await m('sluice_async_events_dropped_total', { function: 'orders', reason: 'RetriesExhausted' }),
    ).toBe(100);
    expect(
      await m('sluice_invocations_total', { function: 'orders', type: 'async', outcome: 'success' }),
    ).toBe(900);
    expect(
      await m('sluice_invocations_total', { function: 'orders', type: 'async', outcome: 'function_error' }),
    ).toBe(200);
    expect(await m('sluice_dead_letter_events_total', { function: 'orders' })).toBe(0);
    expect(await m('sluice_async_event_age_seconds', { function: 'orders' })).toBe(1100);
    expect(await p.dlq.count('shop', 'orders')).toBe(0);
    console.log(`1,000 events: accepted in ${accepted} ms, all accounted for in ${elapsed} ms`);
  });
});

describe('maximum event age', () => {
  it('events that keep being throttled expire to the failure destination with EventAgeExceeded', async () => {
    const invoker = new FakeInvoker(() => ({
      kind: 'throttled',
      reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
    }));
    // The pipeline's clock stands still unless the test moves it: the events' age is what the
    // test says, however long the machine takes (re-queue delays are real time, on the server).
    const start = Date.now();
    let clock = start;
    const p = await pipeline(server, {
      id: 'age',
      invoker,
      now: () => clock,
      dispatcher: { backoff: { throttleBaseMs: 200, throttleCapMs: 800, jitter: 0 } },
      functions: [
        fnResource('age', 'stuck', {
          async: { maxEventAgeSeconds: 3, onFailure: 'nats:results.age.failed' },
        }),
      ],
    });
    const ids = await acceptMany(p, 'age', 'stuck', 5, 5);
    const recs = () => results.of('results.age.failed');
    // At 2 of its 3 s: each event re-queued several times without consuming attempts, delivered
    // again at that age, and not expired.
    const calls = (): number[] => ids.map((id) => invoker.callsOf('age', 'stuck', id));
    clock = start + 2000;
    const atTwo = calls();
    await waitFor(
      () => calls().every((n, i) => n > Math.max(2, atTwo[i] ?? 0)),
      15_000,
      () => `calls ${calls().join(', ')}`,
    );
    expect(recs()).toEqual([]);
    // Its maximum age: each event fails at its next delivery, without another invocation.
    const callsAtExpiry = calls();
    clock = start + 3000;
    await waitFor(
      () => recs().length >= 5,
      15_000,
      () => `${recs().length} records`,
    );
    expect(calls()).toEqual(callsAtExpiry);
    for (const r of recs()) {
      expect(ids).toContain(r.requestContext.requestId);
      expect(r.requestContext).toMatchObject({ condition: 'EventAgeExceeded', approximateInvokeCount: 0 });
      expect(r).not.toHaveProperty('responseContext');
      expect(r).not.toHaveProperty('responsePayload');
      // Re-queued several times without consuming attempts.
      expect(invoker.callsOf('age', 'stuck', r.requestContext.requestId)).toBeGreaterThan(2);
    }
    expect(
      await metricValue(p.registry, 'sluice_async_events_dropped_total', { reason: 'EventAgeExceeded' }),
    ).toBe(5);
    expect(
      await metricValue(p.registry, 'sluice_invocations_total', { outcome: 'throttled' }),
    ).toBeGreaterThan(10);
  });

  it('a function error whose retry would outlive the event expires with the last error in the record', async () => {
    const invoker = new FakeInvoker(() => FakeInvoker.error('Flaky', 'try later'));
    // The pipeline's clock stands still unless the test moves it (see above).
    const start = Date.now();
    let clock = start;
    const p = await pipeline(server, {
      id: 'age2',
      invoker,
      now: () => clock,
      functions: [
        fnResource('age', 'flaky', {
          async: {
            maxRetryAttempts: 2,
            retryDelaySeconds: 10,
            maxEventAgeSeconds: 2,
            onFailure: 'nats:results.age2.failed',
          },
        }),
      ],
    });
    // Scheduled retries as the dispatcher publishes them (the server holds them until their time,
    // 2 s after this sees them), seen by an administrator: the gateway's own user may not subscribe.
    const retries: { at: number; enqueuedAt: number }[] = [];
    const watcher = await server.connect('admin');
    watcher.subscribe('age2.retry.>', {
      callback: (err, m) => {
        if (err) throw err;
        retries.push({
          at: Date.parse((m.headers?.get('Nats-Schedule') ?? '').replace(/^@at /, '')),
          enqueuedAt: Number(m.headers?.get('Sluice-Enqueued-At')),
        });
        clock = start + 2000; // when the retry comes back, the event's 2 s have passed
      },
    });
    await watcher.flush();
    cleanups.push(() => watcher.close());
    const [id] = await acceptMany(p, 'age', 'flaky', 1, 1);
    const recs = () => results.of('results.age2.failed');
    await waitFor(() => recs().length >= 1, 10_000);
    // The retry was due when the event expired (2 s after it was accepted), not after the 10 s
    // retry delay; it came back expired.
    expect(retries).toEqual([{ at: start + 2000, enqueuedAt: start }]);
    expect(recs()[0]).toMatchObject({
      requestContext: { requestId: id, condition: 'EventAgeExceeded', approximateInvokeCount: 1 },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: { errorType: 'Flaky', errorMessage: 'try later' },
    });
    expect(invoker.callsOf('age', 'flaky', id as string)).toBe(1);
  });
});

describe('reserved concurrency 0', () => {
  it('never invokes; ZeroReservedConcurrency records with count 0 and no response', async () => {
    const invoker = new FakeInvoker();
    const p = await pipeline(server, {
      id: 'zero',
      invoker,
      functions: [
        fnResource('zero', 'off', {
          concurrency: { reserved: 0 },
          async: { onFailure: 'nats:results.zero.failed' },
        }),
      ],
    });
    const ids = await acceptMany(p, 'zero', 'off', 3, 3);
    const recs = () => results.of('results.zero.failed');
    await waitFor(() => recs().length >= 3, 10_000);
    expect(
      recs()
        .map((r) => r.requestContext.requestId)
        .sort(),
    ).toEqual([...ids].sort());
    for (const r of recs()) {
      expect(r.requestContext).toMatchObject({
        condition: 'ZeroReservedConcurrency',
        approximateInvokeCount: 0,
      });
      expect(Object.keys(r)).toEqual(['version', 'timestamp', 'requestContext', 'requestPayload']);
    }
    expect(invoker.calls).toHaveLength(0);
  });
});

describe('isolation', () => {
  it("a 10,000-event burst for A does not delay B's single event", async () => {
    // A's calls cannot finish until the test lets them: whatever B gets, it gets past A's backlog
    // and A's full concurrency, not by racing it.
    let releaseA: () => void = () => undefined;
    const gateA = new Promise<void>((r) => (releaseA = r));
    cleanups.push(() => releaseA());
    const invoker = new FakeInvoker(async (req) => {
      if (req.function === 'a') await gateA;
      return FakeInvoker.ok(req);
    });
    invoker.recordCalls = false;
    const p = await pipeline(server, {
      id: 'iso',
      invoker,
      functions: [
        fnResource('iso', 'a', { scaling: { maxReplicas: 20 } }),
        fnResource('iso', 'b', { scaling: { maxReplicas: 20 } }),
      ],
    });
    const t0 = Date.now();
    await acceptMany(p, 'iso', 'a', 10_000, 250);
    const acceptedA = Date.now() - t0;
    await waitFor(
      () => invoker.concurrentOf('iso', 'a') === 20,
      10_000,
      () => `${invoker.concurrentOf('iso', 'a')} of A's calls running`,
    );
    const tb = Date.now();
    const b = await p.acceptor.acceptEvent({
      namespace: 'iso',
      function: 'b',
      payload: body({ n: 0 }),
      requestId: 'b-0',
    });
    await waitFor(() => invoker.callsOf('iso', 'b', b.requestId) === 1, 5000);
    const latencyB = Date.now() - tb;
    const backlogA = await p.streams.backlog('iso', 'a');
    console.log(
      `isolation: 10,000 events for A accepted in ${acceptedA} ms; B handled ${latencyB} ms after its accept with ${backlogA.pending} of A's events still queued`,
    );
    // B was handled while all of A's calls were held and A's backlog still queued.
    expect(invoker.concurrentOf('iso', 'a')).toBe(20);
    expect(backlogA.pending).toBe(10_000 - 20);
    expect(invoker.maxConcurrent.get('iso/a')).toBeLessThanOrEqual(20);
    releaseA();
  });
});

describe('dead letters', () => {
  it('lists, inspects, redrives after the function is fixed, and purges through the HTTP API', async () => {
    let broken = true;
    const invoker = new FakeInvoker((req) =>
      broken
        ? FakeInvoker.error('Broken', `cannot handle ${numberOf(req)}`)
        : FakeInvoker.ok(req, { fixed: numberOf(req) }),
    );
    const p = await pipeline(server, {
      id: 'dlq',
      invoker,
      functions: [
        fnResource('dl', 'fixme', { async: { maxRetryAttempts: 0, onSuccess: 'nats:results.dlq.ok' } }),
      ],
    });
    const api = await serveRouter(deadLetterRouter(p.dlq));
    cleanups.push(() => api.close());
    const base = `${api.url}/sluice/v1/namespaces/dl/functions/fixme/dead-letters`;
    const ids = await acceptMany(p, 'dl', 'fixme', 5, 5);
    await waitFor(async () => (await p.dlq.count('dl', 'fixme')) === 5, 10_000);

    const page1 = await json(`${base}?limit=2`);
    expect(page1.total).toBe(5);
    expect(page1.items).toHaveLength(2);
    expect(page1.next).toBe(page1.items[1].seq);
    expect(page1.items[0]).toMatchObject({
      reason: 'RetriesExhausted',
      condition: 'RetriesExhausted',
      approximateInvokeCount: 1,
    });
    expect(page1.items[0].error).toMatch(/^Broken: /);
    const rest = await json(`${base}?after=${page1.next}&limit=10`);
    expect(rest.items).toHaveLength(3);
    expect(rest.next).toBeUndefined();
    const all = [...page1.items, ...rest.items];
    expect(all.map((i: { requestId: string }) => i.requestId).sort()).toEqual([...ids].sort());

    const one = await json(`${base}/${all[0].seq}`);
    expect(one.record).toMatchObject({
      requestContext: {
        condition: 'RetriesExhausted',
        approximateInvokeCount: 1,
        requestId: all[0].requestId,
      },
      responsePayload: { errorType: 'Broken' },
    });
    expect(one.headers['Sluice-Request-Id']).toBe(all[0].requestId);
    expect((await fetch(`${base}/999999`)).status).toBe(404);
    expect((await fetch(`${base}/abc`)).status).toBe(400);
    expect(
      (await fetch(`${api.url}/sluice/v1/namespaces/dl/functions/other/dead-letters/${all[0].seq}`)).status,
    ).toBe(404);

    broken = false;
    const single = await json(`${base}/redrive?seq=${all[0].seq}`, { method: 'POST' });
    expect(single.redriven).toHaveLength(1);
    const bulk = await json(`${base}/redrive`, { method: 'POST' });
    expect(bulk.redriven).toHaveLength(4);
    expect(bulk.failed).toEqual([]);
    const ok = () => results.of('results.dlq.ok');
    await waitFor(() => ok().length >= 5, 10_000);
    expect(
      ok()
        .map((r) => r.requestContext.requestId)
        .sort(),
    ).toEqual([...ids].sort());
    for (const r of ok())
      expect(r.requestContext).toMatchObject({ condition: 'Success', approximateInvokeCount: 1 });
    expect(await p.dlq.count('dl', 'fixme')).toBe(0);
    // Redriving again finds nothing to do.
    expect((await json(`${base}/redrive`, { method: 'POST' })).redriven).toEqual([]);

    broken = true;
    await acceptMany(p, 'dl', 'fixme', 3, 3, 'second-batch');
    await waitFor(async () => (await p.dlq.count('dl', 'fixme')) === 3, 10_000);
    const [first] = (await json(base)).items;
    expect((await fetch(`${base}/${first.seq}`, { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(`${base}/${first.seq}`)).status).toBe(404);
    const purged = await json(base, { method: 'DELETE' });
    expect(purged).toEqual({ purged: 2 });
    expect((await json(base)).total).toBe(0);
    expect(await metricValue(p.registry, 'sluice_dead_letter_events_total', { function: 'fixme' })).toBe(8);
  });
});

describe('destinations', () => {
  let http: Server;
  let httpUrl = '';
  const received: { path: string; body: InvocationRecord; headers: Record<string, unknown> }[] = [];
  let failing = 0;
  beforeAll(async () => {
    http = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/broken') {
          failing++;
          res.writeHead(500).end();
          return;
        }
        received.push({
          path: req.url ?? '',
          body: JSON.parse(Buffer.concat(chunks).toString()),
          headers: req.headers,
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    const addr = http.address();
    httpUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    cleanups.push(() => new Promise<void>((r) => http.close(() => r())));
  });

  it('function, http and nats destinations; failed deliveries are counted and kept as dead letters', async () => {
    const invoker = new FakeInvoker((req) =>
      req.function === 'audit'
        ? FakeInvoker.ok(req)
        : req.function.startsWith('bad')
          ? FakeInvoker.error()
          : FakeInvoker.ok(req, { n: numberOf(req) }),
    );
    const p = await pipeline(server, {
      id: 'dest',
      invoker,
      functions: [
        fnResource('d', 'audit'),
        fnResource('d', 'to-function', { async: { onSuccess: 'function:audit' } }),
        fnResource('d', 'to-http', { async: { onSuccess: `${httpUrl}/ok` } }),
        fnResource('d', 'bad-ghost', { async: { maxRetryAttempts: 0, onFailure: 'function:ghost' } }),
        fnResource('d', 'bad-http', { async: { maxRetryAttempts: 0, onFailure: `${httpUrl}/broken` } }),
        fnResource('d', 'bad-nats', { async: { maxRetryAttempts: 0, onFailure: 'nats:nobody.listens' } }),
      ],
    });
    const [fid] = await acceptMany(p, 'd', 'to-function', 1, 1);
    const [hid] = await acceptMany(p, 'd', 'to-http', 1, 1);
    const [ghost] = await acceptMany(p, 'd', 'bad-ghost', 1, 1);
    const [bh] = await acceptMany(p, 'd', 'bad-http', 1, 1);
    const [bn] = await acceptMany(p, 'd', 'bad-nats', 1, 1);

    // function: the record is the destination function's event, invoked asynchronously.
    await waitFor(() => invoker.calls.some((c) => c.function === 'audit'), 10_000);
    const audit = invoker.calls.find((c) => c.function === 'audit') as InvokeRequest;
    expect(JSON.parse(audit.payload.toString())).toMatchObject({
      version: '1.0',
      requestContext: {
        requestId: fid,
        condition: 'Success',
        functionArn: 'arn:aws:lambda:sluice-local:d:function:to-function:$LATEST',
      },
      requestPayload: { n: 0 },
      responsePayload: { n: 0 },
    });
    // http(s): a POST of the record as JSON.
    await waitFor(() => received.length >= 1, 10_000);
    expect(received[0]?.path).toBe('/ok');
    expect(received[0]?.body.requestContext).toMatchObject({ requestId: hid, condition: 'Success' });
    expect(received[0]?.headers['content-type']).toBe('application/json');

    // Destinations that cannot take the record: retried, counted, and the record kept in the DLQ.
    for (const [fn, id, dest] of [
      ['bad-ghost', ghost, 'function:ghost'],
      ['bad-http', bh, `${httpUrl}/broken`],
      ['bad-nats', bn, 'nats:nobody.listens'],
    ] as const) {
      await waitFor(
        async () => (await p.dlq.count('d', fn)) === 1,
        15_000,
        () => fn,
      );
      const [item] = (await p.dlq.list('d', fn)).items;
      expect(item).toMatchObject({
        reason: 'DestinationDeliveryFailed',
        condition: 'RetriesExhausted',
        requestId: id,
        destination: dest,
      });
      const full = await p.dlq.get('d', fn, item?.seq as number);
      expect(full.record).toMatchObject({
        requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 1 },
      });
      expect(
        await metricValue(p.registry, 'sluice_destination_delivery_failures_total', { function: fn }),
      ).toBe(1);
      expect(
        await metricValue(p.registry, 'sluice_dead_letter_events_total', {
          function: fn,
          reason: 'DestinationDeliveryFailed',
        }),
      ).toBe(1);
    }
    expect(failing).toBe(3); // the policy's 3 tries
  });
});

describe('consumers follow the functions', () => {
  it('creates a consumer per function with the right limits, updates and deletes it', async () => {
    const p = await pipeline(server, {
      id: 'cons',
      invoker: new FakeInvoker(),
      functions: [
        fnResource('c', 'one', { timeoutSeconds: 30, concurrency: { reserved: 7 } }),
        fnResource('c', 'two.dots'),
      ],
    });
    const info = await p.jsm.consumers.info('CONS_ASYNC', 'fn_c_one');
    expect(info.config).toMatchObject({
      filter_subject: 'cons.async.c.one',
      ack_policy: 'explicit',
      max_ack_pending: 7,
      ack_wait: 32 * 1e9,
      max_deliver: -1,
    });
    expect((await p.jsm.consumers.info('CONS_ASYNC', 'fn_c_two_dots')).config.filter_subject).toBe(
      'cons.async.c.two_dots',
    );
    p.source.upsert(fnResource('c', 'one', { scaling: { maxReplicas: 3, concurrencyPerPod: 2 } }));
    await waitFor(
      async () => (await p.jsm.consumers.info('CONS_ASYNC', 'fn_c_one')).config.max_ack_pending === 6,
      5000,
    );
    p.source.remove(fnResource('c', 'one'));
    await waitFor(() => !p.dispatcher.hasFunction('c', 'one'), 5000);
    await waitFor(async () => (await p.streams.listConsumers()).every((c) => c.name !== 'one'), 5000);
    // A consumer whose function vanished while no gateway watched is collected at start.
    await p.streams.ensureConsumer({
      ...(await import('../../gateway/async/function-config.js')).asyncFunction({
        namespace: 'c',
        name: 'orphan',
      }),
    });
    expect(await p.watcher.collectGarbage()).toBe(1);
    expect((await p.streams.listConsumers()).map((c) => c.name)).toEqual(['two.dots']);
  });
});

describe('tracing', () => {
  it('continues the accepting trace across the queue: the dispatch span is its child, the invoker gets the dispatch span', async () => {
    const exporter = new tracing.InMemorySpanExporter();
    const provider = new tracing.BasicTracerProvider({
      spanProcessors: [new tracing.SimpleSpanProcessor(exporter)],
    });
    propagation.setGlobalPropagator(new core.W3CTraceContextPropagator());
    try {
      const invoker = new FakeInvoker();
      const p = await pipeline(server, {
        id: 'trace',
        invoker,
        tracer: provider.getTracer('sluice-gateway'),
        functions: [fnResource('tr', 'traced')],
      });
      const traceId = '0af7651916cd43dd8448eb211c80319c';
      const parentSpan = 'b7ad6b7169203331';
      const r = await p.acceptor.acceptEvent({
        namespace: 'tr',
        function: 'traced',
        payload: body({}),
        requestId: 'tr-1',
        traceparent: `00-${traceId}-${parentSpan}-01`,
      });
      await waitFor(() => invoker.callsOf('tr', 'traced', r.requestId) === 1, 10_000);
      await waitFor(() => exporter.getFinishedSpans().length === 1, 5000);
      const [span] = exporter.getFinishedSpans();
      expect(span?.name).toBe('async invoke');
      expect(span?.kind).toBe(SpanKind.CONSUMER);
      expect(span?.spanContext().traceId).toBe(traceId);
      expect(span?.parentSpanContext?.spanId).toBe(parentSpan);
      expect(span?.attributes['sluice.request_id']).toBe('tr-1');
      const call = invoker.calls[0];
      expect(call?.traceparent).toBe(`00-${traceId}-${span?.spanContext().spanId}-01`);
    } finally {
      propagation.disable();
      await provider.shutdown();
    }
  });
});
