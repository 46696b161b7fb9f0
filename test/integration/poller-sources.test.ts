import { RetentionPolicy } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fnError, FakeInvoker, ok } from '../support/poller/fake-invoker.js';
import { makeKit, mapping, type Kit } from '../support/poller/kit.js';
import { until } from '../support/time.js';
import { classifyResponse } from '../../poller/invoker.js';
import { SOURCES } from '../../poller/sources/index.js';
import { checkpointKey } from '../../poller/sources/nats-stream.js';
import type { SqsRecord, RawRecord } from '../../poller/records.js';
import { NatsServer } from './support/nats.js';

type Ev = {
  Records: (Omit<SqsRecord, 'eventSource' | 'eventSourceARN'> &
    Omit<RawRecord, 'eventSource' | 'eventSourceARN'>)[];
};

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

async function stream(name: string, subjects: string[], workQueue = false): Promise<void> {
  await kit.jsm.streams.add({
    name,
    subjects,
    ...(workQueue ? { retention: RetentionPolicy.Workqueue } : {}),
  });
}

async function publish(subject: string, bodies: unknown[]): Promise<number[]> {
  const seqs: number[] = [];
  for (const b of bodies) seqs.push((await kit.js.publish(subject, JSON.stringify(b))).seq);
  return seqs;
}

/** Messages currently stored on a subject, parsed. */
async function readAll(streamName: string, subject: string): Promise<unknown[]> {
  const info = await kit.jsm.streams.info(streamName);
  const out: unknown[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    try {
      const m = await kit.jsm.streams.getMessage(streamName, { seq });
      if (m && m.subject === subject) out.push(m.json());
    } catch {
      // deleted
    }
  }
  return out;
}

describe('natsQueue (SQS-like)', () => {
  it('ReportBatchItemFailures: only failed records are retried, then go to onFailure', async () => {
    await stream('ORDERS', ['orders.>'], true);
    await stream('ORDERS_DLQ', ['dlq.orders']);
    const bodies = Array.from({ length: 20 }, (_, n) => ({ n, fail: n % 7 === 3 }));
    const bad = bodies.filter((b) => b.fail).map((b) => b.n);
    const seen = new Map<number, number>();
    const sizes: number[] = [];
    const invoker = new FakeInvoker((event) => {
      const recs = (event as Ev).Records;
      sizes.push(recs.length);
      const failures: { itemIdentifier: string }[] = [];
      for (const r of recs) {
        const body = JSON.parse(r.body) as { n: number; fail: boolean };
        seen.set(body.n, (seen.get(body.n) ?? 0) + 1);
        if (body.fail) failures.push({ itemIdentifier: r.messageId });
      }
      return ok({ batchItemFailures: failures });
    });
    const m = mapping({
      function: 'orders',
      source: { natsQueue: { stream: 'ORDERS', subject: 'orders.created' } },
      batchSize: 5,
      maximumRetryAttempts: 2,
      functionResponseTypes: ['ReportBatchItemFailures'],
      onFailure: 'nats:dlq.orders',
      recordFormat: 'sqs',
    });
    const src = SOURCES.natsQueue.create(m, kit.deps(invoker));
    await src.start();
    try {
      await publish('orders.created', bodies);
      await until(
        async () => (await readAll('ORDERS_DLQ', 'dlq.orders')).length === bad.length,
        'dead letters',
      );
      await until(async () => (await src.backlog()) === 0, 'an empty backlog');
      for (const b of bodies) expect(seen.get(b.n), `deliveries of ${b.n}`).toBe(b.fail ? 3 : 1);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(5);
      const dlq = (await readAll('ORDERS_DLQ', 'dlq.orders')) as {
        requestContext: { condition: string; approximateInvokeCount: number; functionArn: string };
        requestPayload: Ev;
      }[];
      expect(
        dlq.map((d) => (JSON.parse(d.requestPayload.Records[0]!.body) as { n: number }).n).sort(),
      ).toEqual(bad.sort());
      expect(dlq[0]?.requestContext).toMatchObject({
        condition: 'RetriesExhausted',
        approximateInvokeCount: 3,
        functionArn: 'arn:aws:lambda:sluice:shop:function:orders:$LATEST',
      });
      // The work-queue stream is empty: everything acknowledged, nothing left behind.
      expect((await kit.jsm.streams.info('ORDERS')).state.messages).toBe(0);
    } finally {
      await src.close();
    }
  });

  it('a function error retries the whole batch; filtered records are acked and counted', async () => {
    await stream('JOBS', ['jobs.>'], true);
    let calls = 0;
    const invoker = new FakeInvoker(() => (++calls === 1 ? fnError('first call fails') : ok(null)));
    const m = mapping({
      function: 'jobs',
      source: { natsQueue: { stream: 'JOBS' } },
      batchSize: 10,
      maximumBatchingWindowSeconds: 1,
      filterCriteria: { filters: [{ pattern: '{"data":{"kind":["job"]}}' }] },
    });
    // Published before the source starts: the three arrive together, so one batch holds both jobs
    // whatever the machine's speed (the 1 s window only gathers, it decides nothing here).
    await publish('jobs.x', [
      { kind: 'job', n: 1 },
      { kind: 'noise', n: 2 },
      { kind: 'job', n: 3 },
    ]);
    const src = SOURCES.natsQueue.create(m, kit.deps(invoker));
    await src.start();
    try {
      await until(async () => (await kit.jsm.streams.info('JOBS')).state.messages === 0, 'all acked');
      const delivered = invoker.calls.map((c) =>
        (c.event as Ev).Records.map(
          (r) => (JSON.parse(Buffer.from(r.nats.data, 'base64').toString()) as { n: number }).n,
        ),
      );
      expect(delivered).toEqual([
        [1, 3],
        [1, 3],
      ]);
      expect((invoker.calls[1]?.event as Ev).Records[0]?.nats.deliveryCount).toBe(2);
      const filtered = await kit.registry.getSingleMetricAsString('sluice_esm_filtered_records_total');
      expect(filtered).toMatch(new RegExp(`mapping="${m.ref.name}"[^}]*} 1`));
    } finally {
      await src.close();
    }
  });

  it('a 401/403 from the gateway keeps the records (no retries left, no onFailure): delivered once it is fixed', async () => {
    await stream('AUTHQ', ['authq.>'], true);
    const refusals = [
      classifyResponse(401, new Headers(), Buffer.from('')),
      classifyResponse(
        403,
        new Headers({ 'x-amzn-errortype': 'UnrecognizedClientException' }),
        Buffer.from('{}'),
      ),
      classifyResponse(403, new Headers({ 'x-amzn-errortype': 'AccessDeniedException' }), Buffer.from('{}')),
    ];
    const invoker = new FakeInvoker(() => refusals.shift() ?? ok(null));
    const m = mapping({
      function: 'authq',
      source: { natsQueue: { stream: 'AUTHQ' } },
      batchSize: 10,
      maximumRetryAttempts: 0,
    });
    await publish('authq.x', [{ n: 1 }, { n: 2 }]);
    const src = SOURCES.natsQueue.create(m, kit.deps(invoker));
    await src.start();
    try {
      await until(async () => (await kit.jsm.streams.info('AUTHQ')).state.messages === 0, 'all acked');
      expect(refusals).toHaveLength(0);
      const results = await kit.registry.getSingleMetricAsString('sluice_esm_records_total');
      const mine = results.split('\n').filter((l) => l.includes(`mapping="${m.ref.name}"`));
      expect(mine.join('\n')).toMatch(/result="delivered"} 2/);
      expect(mine.join('\n')).not.toMatch(/result="(dropped|on_failure)"/);
    } finally {
      await src.close();
    }
  });

  it('gathers up to batchSize within the window, and runs batches concurrently as the backlog grows', async () => {
    await stream('BULK', ['bulk.>'], true);
    let peak = 0;
    const sizes: number[] = [];
    // The first batch is held until a second one runs beside it: with 400 records queued the
    // source must run batches concurrently, and this shows it without timing a sleep against
    // the machine's speed (run one at a time, it would never get past the first batch).
    let together: () => void = () => undefined;
    const second = new Promise<void>((r) => (together = r));
    const invoker = new FakeInvoker(async (event) => {
      peak = Math.max(peak, invoker.inFlight);
      if (invoker.inFlight >= 2) together();
      sizes.push((event as Ev).Records.length);
      await second;
      return ok(null);
    });
    await publish(
      'bulk.x',
      Array.from({ length: 400 }, (_, n) => n),
    );
    const src = SOURCES.natsQueue.create(
      mapping({
        function: 'bulk',
        source: { natsQueue: { stream: 'BULK' } },
        batchSize: 10,
        maximumConcurrency: 4,
      }),
      kit.deps(invoker),
    );
    await src.start();
    try {
      await until(async () => (await kit.jsm.streams.info('BULK')).state.messages === 0, 'all acked', 30_000);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(400);
      expect(Math.max(...sizes)).toBe(10);
      expect(peak).toBeGreaterThan(1);
      expect(peak).toBeLessThanOrEqual(4);
    } finally {
      together(); // a failed run must not leave the first batch held
      await src.close();
    }
  });
});

describe('natsStream (Kinesis-like)', () => {
  it('bisects a failing batch down to the poison record; the others arrive in order', async () => {
    await stream('CLICKS', ['clicks.>']);
    await stream('CLICKS_DLQ', ['dlq.clicks']);
    const seqs = await publish(
      'clicks.eu',
      Array.from({ length: 8 }, (_, n) => ({ n, poison: n === 5 })),
    );
    const succeeded: number[] = [];
    const invoker = new FakeInvoker((event) => {
      const recs = (event as Ev).Records.map(
        (r) => JSON.parse(Buffer.from(r.nats.data, 'base64').toString()) as { n: number; poison: boolean },
      );
      if (recs.some((r) => r.poison)) return fnError('poison');
      succeeded.push(...recs.map((r) => r.n));
      return ok(null);
    });
    const m = mapping({
      function: 'clicks',
      source: { natsStream: { stream: 'CLICKS', subject: 'clicks.>' } },
      startingPosition: 'TRIM_HORIZON',
      batchSize: 8,
      maximumBatchingWindowSeconds: 1,
      bisectBatchOnFunctionError: true,
      maximumRetryAttempts: 1,
      onFailure: 'nats:dlq.clicks',
    });
    const src = SOURCES.natsStream.create(m, kit.deps(invoker));
    await src.start();
    try {
      await until(async () => (await readAll('CLICKS_DLQ', 'dlq.clicks')).length === 1, 'the failure record');
      await until(async () => (await src.backlog()) === 0, 'an empty backlog');
      expect(succeeded).toEqual([0, 1, 2, 3, 4, 6, 7]);
      const [rec] = (await readAll('CLICKS_DLQ', 'dlq.clicks')) as {
        requestContext: { condition: string };
        NatsStreamBatchInfo: Record<string, unknown>;
      }[];
      expect(rec?.requestContext.condition).toBe('RetryAttemptsExhausted');
      expect(rec?.NatsStreamBatchInfo).toMatchObject({
        startSequenceNumber: String(seqs[5]),
        endSequenceNumber: String(seqs[5]),
        batchSize: 1,
        shardId: 'clicks.>',
        streamArn: 'arn:aws:nats:sluice:shop:stream/CLICKS',
      });
      const cp = await kit.state.checkpoints.get(checkpointKey(m.ref.uid));
      expect(cp?.json<{ seq: number }>().seq).toBe(seqs[7]);
      // Sizes seen: 8 (fails), 4 ok, 4 fails, 2 (with poison) fails, 2 ok... the poison alone twice (1 + 1 retry).
      const alone = invoker.calls.filter(
        (c) =>
          (c.event as Ev).Records.length === 1 &&
          (c.event as Ev).Records[0]?.nats.sequenceNumber === String(seqs[5]),
      );
      expect(alone).toHaveLength(2);
    } finally {
      await src.close();
    }
  });

  it('partial failure by sequence: checkpoint before it, retry from it; a restart resumes at the checkpoint', async () => {
    await stream('EVENTS', ['events.>']);
    const seqs = await publish('events.a', [0, 1, 2, 3, 4, 5]);
    const batches: number[][] = [];
    let failOnce = true;
    const invoker = new FakeInvoker((event) => {
      const s = (event as Ev).Records.map((r) => Number(r.nats.sequenceNumber));
      batches.push(s);
      if (failOnce && s.includes(seqs[3]!)) {
        failOnce = false;
        return ok({ batchItemFailures: [{ itemIdentifier: String(seqs[3]) }] });
      }
      return ok({ batchItemFailures: [] });
    });
    const m = mapping({
      function: 'events',
      source: { natsStream: { stream: 'EVENTS' } },
      startingPosition: 'TRIM_HORIZON',
      batchSize: 6,
      maximumBatchingWindowSeconds: 1,
      functionResponseTypes: ['ReportBatchItemFailures'],
    });
    const first = SOURCES.natsStream.create(m, kit.deps(invoker));
    await first.start();
    await until(async () => (await first.backlog()) === 0, 'first pass done');
    await first.close();
    expect(batches).toEqual([seqs, seqs.slice(3)]);

    // A new session (a restart or another replica) delivers only what came after the checkpoint, in order.
    const more = await publish('events.a', [6, 7]);
    const second = SOURCES.natsStream.create(m, kit.deps(invoker, 'poller-b'));
    await second.start();
    try {
      await until(() => batches.flat().includes(more[1]!), 'new records');
      expect(batches.slice(2).flat()).toEqual(more);
    } finally {
      await second.close();
    }
  });

  it('a checkpoint write the KV cannot take (NATS restarting) is retried: the session goes on, nothing is skipped or run twice', async () => {
    await stream('TRADES', ['trades.>']);
    const seqs = await publish(
      'trades.x',
      Array.from({ length: 6 }, (_, n) => n),
    );
    const delivered: number[] = [];
    const invoker = new FakeInvoker((event) => {
      delivered.push(...(event as Ev).Records.map((r) => Number(r.nats.sequenceNumber)));
      return ok(null);
    });
    const m = mapping({
      function: 'trades',
      source: { natsStream: { stream: 'TRADES' } },
      startingPosition: 'TRIM_HORIZON',
      batchSize: 2,
      maximumBatchingWindowSeconds: 1,
    });
    const deps = kit.deps(invoker);
    // The KV as NATS restarts: the first update lands but its answer is lost, the next two fail outright.
    let failures = 0;
    const real = deps.checkpoints;
    const checkpoints = Object.create(real) as typeof real;
    checkpoints.update = async (k, v, rev) => {
      failures++;
      if (failures === 1) {
        await real.update(k, v, rev);
        throw new Error('TIMEOUT: the answer was lost');
      }
      if (failures <= 3) throw new Error('503 no responders');
      return real.update(k, v, rev);
    };
    const reportsBefore = kit.reports.length;
    const src = SOURCES.natsStream.create(m, { ...deps, checkpoints });
    await src.start();
    try {
      await until(async () => (await src.backlog()) === 0 && delivered.length >= seqs.length, 'all records');
      expect(failures).toBeGreaterThan(3);
      expect(delivered).toEqual(seqs);
      const cp = await kit.state.checkpoints.get(checkpointKey(m.ref.uid));
      expect(cp?.json<{ seq: number }>().seq).toBe(seqs[5]);
      const reports = kit.reports.slice(reportsBefore);
      expect(reports.some((r) => r.startsWith('CheckpointWriteFailed'))).toBe(true);
      expect(reports.filter((r) => r.startsWith('Stopped'))).toEqual([]);
    } finally {
      await src.close();
    }
  });

  it('records older than maximumRecordAgeSeconds go to onFailure as RecordAgeExceeded, the rest are delivered', async () => {
    await stream('AGED', ['aged.>']);
    await stream('AGED_DLQ', ['dlq.aged']);
    const old = await publish('aged.x', ['old-1', 'old-2']);
    // The server stamped the old records before acknowledging them; the fresh one is stamped at
    // least 2 ms later. The source's clock is fixed 1 s past the line between them, so the old ones
    // are over maximumRecordAgeSeconds (1) and the fresh one is not — however long the test takes.
    const line = Date.now() + 1;
    await until(() => Date.now() > line, 'the clock past the old records');
    const fresh = await publish('aged.x', ['fresh']);
    const invoker = new FakeInvoker();
    const src = SOURCES.natsStream.create(
      mapping({
        function: 'aged',
        source: { natsStream: { stream: 'AGED' } },
        startingPosition: 'TRIM_HORIZON',
        maximumRecordAgeSeconds: 1,
        onFailure: 'nats:dlq.aged',
        // One batch of all three records, however the server's deliveries are spread over time:
        // the batch is full at three (the window only bounds the wait for a batch that never fills).
        batchSize: 3,
        maximumBatchingWindowSeconds: 60,
      }),
      { ...kit.deps(invoker), now: () => line + 1000 },
    );
    await src.start();
    try {
      await until(async () => (await readAll('AGED_DLQ', 'dlq.aged')).length === 1, 'the failure record');
      await until(() => invoker.calls.length === 1, 'the fresh record');
      expect((invoker.calls[0]?.event as Ev).Records.map((r) => Number(r.nats.sequenceNumber))).toEqual(
        fresh,
      );
      const [rec] = (await readAll('AGED_DLQ', 'dlq.aged')) as {
        requestContext: { condition: string };
        NatsStreamBatchInfo: { startSequenceNumber: string; endSequenceNumber: string; batchSize: number };
      }[];
      expect(rec?.requestContext.condition).toBe('RecordAgeExceeded');
      expect(rec?.NatsStreamBatchInfo).toMatchObject({
        startSequenceNumber: String(old[0]),
        endSequenceNumber: String(old[1]),
        batchSize: 2,
      });
    } finally {
      await src.close();
    }
  });

  it('LATEST starts after the records already there; AT_TIMESTAMP from the given time', async () => {
    await stream('TICKS', ['ticks.>']);
    await publish('ticks.x', ['old-1', 'old-2']);
    await new Promise((r) => setTimeout(r, 50));
    const middle = new Date();
    await new Promise((r) => setTimeout(r, 50));
    await publish('ticks.x', ['mid']);
    const got = (inv: FakeInvoker): string[] =>
      inv.calls.flatMap((c) =>
        (c.event as Ev).Records.map(
          (r) => JSON.parse(Buffer.from(r.nats.data, 'base64').toString()) as string,
        ),
      );

    const latestInv = new FakeInvoker();
    const latest = SOURCES.natsStream.create(
      mapping({ function: 'f', source: { natsStream: { stream: 'TICKS' } }, startingPosition: 'LATEST' }),
      kit.deps(latestInv),
    );
    const atInv = new FakeInvoker();
    const at = SOURCES.natsStream.create(
      mapping({
        function: 'f',
        source: { natsStream: { stream: 'TICKS' } },
        startingPosition: 'AT_TIMESTAMP',
        startingPositionTimestamp: middle.toISOString(),
      }),
      kit.deps(atInv),
    );
    await latest.start();
    await at.start();
    try {
      await publish('ticks.x', ['new']);
      await until(() => got(latestInv).includes('new') && got(atInv).includes('new'), 'new record');
      expect(got(latestInv)).toEqual(['new']);
      expect(got(atInv)).toEqual(['mid', 'new']);
    } finally {
      await latest.close();
      await at.close();
    }
  });
});
