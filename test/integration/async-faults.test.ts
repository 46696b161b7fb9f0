import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventAcceptor } from '../../gateway/async/accept.js';
import { FakeInvoker } from '../../gateway/async/fake-invoker.js';
import { Subjects } from '../../gateway/async/naming.js';
import type { InvocationRecord } from '../../gateway/async/records.js';
import { NatsServer } from './support/nats.js';
import {
  connectNats,
  fnResource,
  RecordCollector,
  startPipeline,
  waitFor,
  type RunningPipeline,
} from './support/async-pipeline.js';

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

describe('faults', () => {
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
    await waitFor(() => accepted.size >= TOTAL / 4, 30_000);
    const inFlightAtKill = first.dispatcher.inFlight('faults', 'work');
    expect(inFlightAtKill).toBeGreaterThan(0); // the kill interrupts calls
    await first.kill();
    await sleep(300);
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
    const records = (): InvocationRecord[] => [
      ...collector!.of('results.faults.ok'),
      ...collector!.of('results.faults.failed'),
    ];
    const accountedFor = (): number => {
      const ids = new Set(records().map((r) => r.requestContext.requestId));
      return [...accepted.values()].filter((id) => ids.has(id)).length;
    };
    await waitFor(
      () => accountedFor() === TOTAL,
      90_000,
      () => `${accountedFor()} of ${TOTAL} accounted for`,
    );
    await sleep(2000); // late duplicates would arrive now

    const byId = new Map<string, InvocationRecord[]>();
    for (const r of records())
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
    };
    console.log(`faults: ${JSON.stringify(report)}`);
    // Duplicate runs are allowed (at-least-once) but bounded: each fault can re-run only events
    // that were in flight (≤ max_ack_pending = 20 across replicas) or whose ack was still unsent.
    expect(duplicateRuns).toBeLessThanOrEqual(2 * 2 * 20);
    expect(acceptRetries).toBeGreaterThan(0); // the outage was long enough to fail some Invoke calls
    expect(inFlightAtRestart).toBeGreaterThan(0);
  });
});
