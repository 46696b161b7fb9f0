import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { consumerName } from '../../api/nats-naming.js';
import type { InvocationRecord } from '../../api/records.js';
import { DLQ_H } from '../../gateway/async/event.js';
import { FakeInvoker } from '../support/gateway/fake-invoker.js';
import { budget } from '../support/time.js';
import { NatsServer } from './support/nats.js';
import {
  fnResource,
  metricValue,
  pipelineIdle,
  startPipeline,
  waitFor,
  type RunningPipeline,
} from './support/async-pipeline.js';

// "Durable means on disk": an event whose function ran is never run again because its outcome
// could not be written (a full store), and a consumer that disappears under a running
// dispatcher is made again.

let server: NatsServer;
const pipelines: RunningPipeline[] = [];
const conns: NatsConnection[] = [];

beforeAll(async () => {
  server = await NatsServer.start();
});
afterAll(async () => {
  for (const p of pipelines) await p.close().catch(() => undefined);
  for (const c of conns) await c.close().catch(() => undefined);
  await server?.cleanup();
});

const body = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));

describe('settle', { timeout: budget(60_000) }, () => {
  it('a dead-letter write that fails N times: each handler runs once, the record still lands, also on another dispatcher', async () => {
    const id = 'settle';
    const fn = fnResource('settle', 'work', {
      timeoutSeconds: 1, // ack_wait 1 s + 2 s margin: a killed dispatcher's events return after 3 s
      async: { maxRetryAttempts: 0 }, // a function error goes straight to the dead-letter stream
    });
    const failing = new FakeInvoker(() => FakeInvoker.error('Bad', 'no'));
    // The dead-letter stream is full: every write is refused (max_bytes 1, discard new).
    const first = await startPipeline(server, {
      id,
      invoker: failing,
      functions: [fn],
      streams: { dlqMaxBytes: 1 },
      dispatcher: { settleRetryDelayMs: 200 },
    });
    pipelines.push(first);
    const ids: string[] = [];
    for (let n = 0; n < 3; n++) {
      const r = await first.acceptor.acceptEvent({
        namespace: 'settle',
        function: 'work',
        payload: body({ n }),
        requestId: `settle-${n}`,
      });
      ids.push(r.requestId);
    }
    const settleFailures = (p: RunningPipeline): Promise<number> =>
      metricValue(p.registry, 'sluice_async_settle_failures_total', {
        namespace: 'settle',
        function: 'work',
      });
    // N ≥ 3 settle attempts per event on this dispatcher (from its memory and the KV record).
    await waitFor(
      async () => (await settleFailures(first)) >= 9,
      budget(20_000),
      () => `settle failures so far: ${String(failing.calls.length)} calls`,
    );
    for (const r of ids) expect(failing.callsOf('settle', 'work', r), r).toBe(1);
    expect(await metricValue(first.registry, 'sluice_async_redeliveries_total')).toBe(0);

    // Another dispatcher takes over (this one dies), and the store has room again: the events
    // are settled from their "invoked, outcome X" records, without running the function.
    await first.kill();
    const admin = await server.connect('admin');
    conns.push(admin);
    const jsm = await jetstreamManager(admin);
    await jsm.streams.update(first.streams.settings.dlqStreamName, { max_bytes: -1 });
    const second = new FakeInvoker(() => FakeInvoker.error('Bad', 'second run'));
    const next = await startPipeline(server, {
      id,
      invoker: second,
      functions: [fn],
      dispatcher: { settleRetryDelayMs: 200 },
    });
    pipelines.push(next);
    const dlq = first.streams.settings.dlqStreamName;
    await waitFor(
      async () => (await jsm.streams.info(dlq)).state.messages === ids.length && (await pipelineIdle(next)),
      budget(20_000),
      () => 'all dead letters written and the queue empty',
    );
    expect(second.calls).toHaveLength(0);
    for (const r of ids) expect(failing.callsOf('settle', 'work', r), r).toBe(1);
    const letters: { requestId: string; reason: string; count: number; error: string }[] = [];
    for (let seq = 1; seq <= (await jsm.streams.info(dlq)).state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(dlq, { seq });
      if (!m) continue;
      const rec = m.json<InvocationRecord>();
      letters.push({
        requestId: rec.requestContext.requestId,
        reason: m.header.get(DLQ_H.reason),
        count: rec.requestContext.approximateInvokeCount,
        error: JSON.stringify(rec.responsePayload),
      });
    }
    expect(letters.map((l) => l.requestId).sort()).toEqual([...ids].sort());
    for (const l of letters) {
      expect(l).toMatchObject({ reason: 'RetriesExhausted', count: 1 });
      expect(l.error).toContain('"errorMessage":"no"'); // the first (only) run's error
    }
    // The three "invoked" records were durable (the KV bucket had room) and are purged once settled.
    const kvStream = `KV_${id}-settle`;
    const lastOp = new Map<string, string>();
    const kv = await jsm.streams.info(kvStream);
    for (let seq = kv.state.first_seq; seq <= kv.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(kvStream, { seq }).catch(() => null);
      if (m) lastOp.set(m.subject, m.header.get('KV-Operation') || 'PUT');
    }
    expect(lastOp.size).toBe(ids.length);
    expect([...lastOp.values()]).toEqual(ids.map(() => 'PURGE'));
  });
});

describe('consumer', { timeout: budget(60_000) }, () => {
  it('deleted under a running dispatcher: recreated with its configuration, every event dispatched', async () => {
    const invoker = new FakeInvoker();
    const fn = fnResource('lost', 'work', { scaling: { maxReplicas: 4 } });
    const p = await startPipeline(server, { id: 'lost', invoker, functions: [fn] });
    pipelines.push(p);
    const accept = async (from: number, count: number): Promise<void> => {
      for (let n = from; n < from + count; n++) {
        await p.acceptor.acceptEvent({
          namespace: 'lost',
          function: 'work',
          payload: body({ n }),
          requestId: `lost-${n}`,
        });
      }
    };
    await accept(0, 5);
    await waitFor(() => invoker.calls.length === 5, budget(10_000));
    const stream = p.streams.settings.streamName;
    const name = consumerName('lost', 'work');
    const before = await p.jsm.consumers.info(stream, name);
    const admin = await server.connect('admin');
    conns.push(admin);
    const jsm = await jetstreamManager(admin);
    expect(await jsm.consumers.delete(stream, name)).toBe(true);

    await accept(5, 20);
    await waitFor(
      () => new Set(invoker.calls.map((c) => c.requestId)).size === 25,
      budget(20_000),
      () => `${String(invoker.calls.length)} of 25 events dispatched`,
    );
    await waitFor(() => pipelineIdle(p), budget(10_000));
    expect(
      await metricValue(p.registry, 'sluice_async_consumer_recreated_total', {
        namespace: 'lost',
        function: 'work',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(await metricValue(p.registry, 'sluice_async_consumer_missing')).toBe(0);
    const after = await jsm.consumers.info(stream, name);
    expect(after.created).not.toBe(before.created); // a new consumer…
    expect(after.config).toEqual(before.config); // …with the configuration it had
  });
});
