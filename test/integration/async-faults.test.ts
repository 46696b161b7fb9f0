import { jetstream, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventAcceptor } from '../../gateway/async/accept.js';
import { FakeInvoker } from '../support/gateway/fake-invoker.js';
import { Subjects } from '../../api/nats-naming.js';
import { DLQ_H } from '../../gateway/async/event.js';
import type { InvocationRecord } from '../../api/records.js';
import { NatsServer } from './support/nats.js';
import {
  connectNats,
  fnResource,
  pipelineIdle,
  RecordCollector,
  startPipeline,
  waitFor,
  type RunningPipeline,
} from './support/async-pipeline.js';
import { budget } from '../support/time.js';

// No loss under faults: while events are being accepted and dispatched, the dispatcher dies
// (its NATS connection closed abruptly, nothing drained) and a new one takes over, then the
// nats-server restarts. Afterwards every accepted event must be accounted for; duplicates are
// counted and reported, not hidden.

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const TOTAL = 3000;
const SIGNAL = (process.env.SLUICE_FAULT_SIGNAL as 'SIGKILL' | undefined) ?? 'SIGTERM';
const failing = (n: number): boolean => n % 10 === 0;

let server: NatsServer;
const conns: NatsConnection[] = [];
const pipelines: RunningPipeline[] = [];
let collector: RecordCollector | undefined;

beforeAll(async () => {
  server = await NatsServer.start();
});
afterAll(async () => {
  collector?.stop();
  for (const p of pipelines) await p.close().catch(() => undefined);
  for (const c of conns) await c.close().catch(() => undefined);
  await server?.cleanup();
});

/** Waits of 30 + 30 + 90 + 30 s (scaled), a server restart and 3000 events. */
const TEST_TIMEOUT = budget(240_000);

interface DeadLetter {
  reason: string;
  condition: string;
  record: InvocationRecord;
}

/** Reads the dead-letter stream's messages, each call only the ones written since the last. */
function deadLetterReader(jsm: JetStreamManager, stream: string): () => Promise<DeadLetter[]> {
  const all: DeadLetter[] = [];
  let next = 1;
  return async () => {
    const last = (await jsm.streams.info(stream)).state.last_seq;
    for (; next <= last; next++) {
      const m = await jsm.streams.getMessage(stream, { seq: next }).catch(() => null);
      if (!m) continue;
      all.push({
        reason: m.header.get(DLQ_H.reason),
        condition: m.header.get(DLQ_H.condition),
        record: m.json<InvocationRecord>(),
      });
    }
    return all;
  };
}

describe('faults', { timeout: TEST_TIMEOUT }, () => {
  it('dispatcher killed and nats-server restarted mid-run: every accepted event is accounted for', async () => {
    const invoker = new FakeInvoker(async (req) => {
      await sleep(30 + Math.floor(Math.random() * 30)); // keeps ~20 events in flight at any moment
      const n = (JSON.parse(req.payload.toString()) as { n: number }).n;
      return failing(n) ? FakeInvoker.error('Bad', `event ${n}`) : FakeInvoker.ok(req, { n });
    });
    const fn = fnResource('faults', 'work', {
      timeoutSeconds: 1, // ack_wait 1 s + 2 s margin: the dead dispatcher's events return after 3 s
      scaling: { maxReplicas: 20 },
      async: {
        maxRetryAttempts: 1,
        retryDelaySeconds: 1,
        onSuccess: 'nats:results.faults.ok',
        onFailure: 'nats:results.faults.failed',
      },
    });
    const start = () => startPipeline(server, { id: 'faults', invoker, functions: [fn] });
    const first = await start();
    pipelines.push(first);

    const collectorConn = await server.connectTenant('faults', {
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    conns.push(collectorConn);
    collector = await RecordCollector.start(collectorConn);
    const producerConn = await connectNats(server, 'faults');
    conns.push(producerConn);
    const acceptor = new EventAcceptor({
      js: jetstream(producerConn),
      subjects: new Subjects('faults'),
      publishTimeoutMs: 2000,
    });

    // A client that retries a failed Invoke with the same Idempotency-Key until it gets its 202.
    const accepted = new Map<number, string>();
    let acceptRetries = 0;
    let next = 0;
    const producer = async (): Promise<void> => {
      while (next < TOTAL) {
        const n = next++;
        for (;;) {
          try {
            const r = await acceptor.acceptEvent({
              namespace: 'faults',
              function: 'work',
              payload: Buffer.from(JSON.stringify({ n })),
              requestId: `call-${n}-${acceptRetries}`,
              idempotencyKey: `event-${n}`,
            });
            accepted.set(n, r.requestId);
            break;
          } catch {
            acceptRetries++;
            await sleep(200);
          }
        }
        await sleep(40); // a steady stream (≈ 500 events/s) that spans both faults
      }
    };
    const producing = Promise.all(Array.from({ length: 20 }, producer));

    // Fault 1: the dispatcher dies with events in flight; another one starts.
    await waitFor(
      () => accepted.size >= TOTAL / 4 && first.dispatcher.inFlight('faults', 'work') > 0,
      30_000,
    );
    const inFlightAtKill = first.dispatcher.inFlight('faults', 'work');
    expect(inFlightAtKill).toBeGreaterThan(0); // the kill interrupts calls
    await first.kill();
    const second = await start();
    pipelines.push(second);

    // Fault 2: while the new dispatcher is busy and events still arrive, the nats-server restarts
    // (SIGNAL, down long enough for publishes to time out).
    await waitFor(
      () => accepted.size >= TOTAL * 0.6 && second.dispatcher.inFlight('faults', 'work') > 0,
      30_000,
    );
    const inFlightAtRestart = second.dispatcher.inFlight('faults', 'work');
    await server.restart(SIGNAL, 3000);

    await producing;
    // An event is accounted for by its record at its destination or — when the destination could
    // not be reached within the delivery's retries (the server was down), as documented — by its
    // dead letter, which carries the same record and says so.
    const deadLetters = deadLetterReader(second.jsm, 'FAULTS_DLQ');
    let dead: DeadLetter[] = [];
    const seen = (): InvocationRecord[] => [
      ...collector!.of('results.faults.ok'),
      ...collector!.of('results.faults.failed'),
      ...dead.map((d) => d.record),
    ];
    const accountedFor = async (): Promise<number> => {
      dead = await deadLetters();
      const ids = new Set(seen().map((r) => r.requestContext.requestId));
      return [...accepted.values()].filter((id) => ids.has(id)).length;
    };
    const missing = (): string => {
      const ids = new Set(seen().map((r) => r.requestContext.requestId));
      return [...accepted.entries()]
        .filter(([, id]) => !ids.has(id))
        .slice(0, 10)
        .map(([n, id]) => `event ${n} (${id}): ${invoker.callsOf('faults', 'work', id)} calls`)
        .join('; ');
    };
    let counted = 0;
    await waitFor(
      async () => (counted = await accountedFor()) === TOTAL,
      90_000,
      () => `${counted} of ${TOTAL} accounted for; missing: ${missing()}`,
    );
    // No late duplicate can come any more: every event is acknowledged (the work-queue stream is
    // empty, no retry scheduled) and none is being dispatched; the dead dispatcher's connection is
    // closed. The records are then read back from their stream as it holds them.
    await waitFor(
      () => pipelineIdle(second),
      30_000,
      () => 'every event acknowledged and none in flight',
    );
    dead = await deadLetters();
    for (const d of dead) {
      // Only an unreachable destination puts a record here (both destinations are set).
      expect(d.reason, `dead letter ${d.record.requestContext.requestId}`).toBe('DestinationDeliveryFailed');
      expect(d.condition).toBe(d.record.requestContext.condition);
    }
    const records = [
      ...(await collector.stored())
        .filter((s) => s.subject === 'results.faults.ok' || s.subject === 'results.faults.failed')
        .map((s) => s.record),
      ...dead.map((d) => d.record),
    ];

    const byId = new Map<string, InvocationRecord[]>();
    for (const r of records)
      byId.set(r.requestContext.requestId, [...(byId.get(r.requestContext.requestId) ?? []), r]);
    let duplicateRecords = 0;
    let duplicateRuns = 0;
    for (const [n, id] of accepted) {
      const recs = byId.get(id) ?? [];
      expect(recs.length, `event ${n}`).toBeGreaterThanOrEqual(1);
      duplicateRecords += recs.length - 1;
      for (const r of recs) {
        if (failing(n))
          expect(r.requestContext).toMatchObject({
            condition: 'RetriesExhausted',
            approximateInvokeCount: 2,
          });
        else expect(r.requestContext).toMatchObject({ condition: 'Success', approximateInvokeCount: 1 });
      }
      duplicateRuns += invoker.callsOf('faults', 'work', id) - (failing(n) ? 2 : 1);
    }
    expect(accepted.size).toBe(TOTAL);
    expect(byId.size).toBe(TOTAL); // no record for an event nobody accepted
    const report = {
      accepted: accepted.size,
      acceptRetriesDuringOutage: acceptRetries,
      inFlightWhenDispatcherKilled: inFlightAtKill,
      inFlightWhenServerRestarted: inFlightAtRestart,
      restartSignal: SIGNAL,
      duplicateRecords,
      duplicateRuns,
      deadLettersForUnreachableDestination: dead.length,
    };
    console.log(`faults: ${JSON.stringify(report)}`);
    // Duplicate runs are allowed (at-least-once) but bounded: each fault can re-run only events
    // that were in flight (≤ max_ack_pending = 20 across replicas) or whose ack was still unsent.
    expect(duplicateRuns).toBeLessThanOrEqual(2 * 2 * 20);
    expect(acceptRetries).toBeGreaterThan(0); // the outage was long enough to fail some Invoke calls
    expect(inFlightAtRestart).toBeGreaterThan(0);
  });
});
