import {
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { esm } from '../support/poller/kit.js';
import { budget, until } from '../support/time.js';
import { FunctionServer, PollerProcess } from '../support/poller/processes.js';
import type { SourceTuning } from '../../poller/sources/source.js';
import { NatsServer } from './support/nats.js';

// Real poller processes, killed with SIGKILL: what a crash leaves behind must not lose records.

type RawEv = { Records: { nats: { sequenceNumber: string; data: string } }[] };

let server: NatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let fn: FunctionServer;
const procs: PollerProcess[] = [];

beforeAll(async () => {
  server = await NatsServer.start();
  // The tests' streams are made and fed as the namespace `shop` (where the mappings live).
  nc = await server.connectTenant('shop');
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  fn = await FunctionServer.start();
});

afterEach(async () => {
  await Promise.allSettled(procs.splice(0).map((p) => p.kill()));
});

afterAll(async () => {
  await fn?.close();
  await nc?.close();
  await server?.cleanup();
});

async function poller(
  mapping: ReturnType<typeof esm>,
  identity: string,
  tuning?: Partial<SourceTuning>,
): Promise<PollerProcess> {
  const p = await PollerProcess.start({
    natsUrl: server.url,
    nats: {
      creds: await server.creds('poller'),
      platformSigner: server.keys.platformSigner,
      accounts: Object.fromEntries(server.directory.entries),
    },
    mapping,
    invokeUrl: fn.url,
    identity,
    startTimeoutMs: budget(30_000),
    tuning,
  });
  procs.push(p);
  return p;
}

const seqsOf = (e: unknown): number[] => (e as RawEv).Records.map((r) => Number(r.nats.sequenceNumber));

/** Each test starts poller processes (up to 30 s each) and waits up to 15–20 s (scaled) for them. */
const TEST_TIMEOUT = budget(60_000);

describe('crashes', { timeout: TEST_TIMEOUT }, () => {
  it('schedule rate(2 seconds): one invocation per tick with two pollers, and after one is killed', async () => {
    fn.calls.length = 0;
    fn.respond = () => Promise.resolve({ body: 'ok' });
    const mapping = esm(
      { function: 'tick', source: { schedule: { expression: 'rate(2 seconds)' } } },
      { name: 'every-2s', creationTimestamp: new Date(Date.now() - 60_000) },
    );
    const a = await poller(mapping, 'poller-a');
    await poller(mapping, 'poller-b');
    const tickTimes = (): string[] =>
      fn.calls.filter((c) => c.url.includes('tick')).map((c) => (c.event as { time: string }).time);
    await until(() => new Set(tickTimes()).size >= 3, 'three ticks', 15_000);
    await a.kill('SIGKILL');
    const before = new Set(tickTimes()).size;
    await until(() => new Set(tickTimes()).size >= before + 3, 'three more ticks after the kill', 15_000);
    const times = tickTimes();
    expect(times.length, `ticks: ${times.join(', ')}`).toBe(new Set(times).size);
    // No tick was skipped: consecutive ticks are 2 s apart.
    const ms = [...new Set(times)].map((t) => Date.parse(t)).sort((x, y) => x - y);
    for (let i = 1; i < ms.length; i++) expect(ms[i]! - ms[i - 1]!).toBe(2000);
  });

  it('natsStream: kill the poller mid-batch; a new one resumes at the checkpoint, in order, losing nothing', async () => {
    await jsm.streams.add({ name: 'FEED', subjects: ['feed.>'] });
    const published: number[] = [];
    for (let n = 0; n < 30; n++)
      published.push((await js.publish(`feed.${n % 3}`, JSON.stringify({ n }))).seq);
    fn.calls.length = 0;
    let hold: (() => void) | undefined;
    let batches = 0;
    fn.respond = async () => {
      batches++;
      if (batches === 3) await new Promise<void>((r) => (hold = r)); // the third batch never finishes for poller A
      return { body: null };
    };
    const mapping = esm({
      function: 'feed',
      source: { natsStream: { stream: 'FEED', subject: 'feed.>' } },
      startingPosition: 'TRIM_HORIZON',
      batchSize: 5,
      maximumBatchingWindowSeconds: 1,
    });
    const a = await poller(mapping, 'poller-a');
    await until(() => hold !== undefined, 'the third batch in flight');
    await a.kill('SIGKILL');
    hold?.();
    await poller(mapping, 'poller-b');
    await until(
      () => fn.calls.some((c) => seqsOf(c.event).includes(published[29]!)),
      'the last record',
      20_000,
    );

    const calls = fn.calls.map((c) => seqsOf(c.event));
    for (const c of calls) expect(c).toEqual([...c].sort((x, y) => x - y));
    const first = [...new Set(calls.flat())];
    expect(first).toEqual(published); // everything, each first seen in stream order
    // Poller B started exactly at A's checkpoint: it re-delivered only the batch A had in flight.
    const bCalls = calls.slice(3);
    expect(bCalls[0]?.[0]).toBe(calls[2]?.[0]);
    expect(bCalls.flat()).toEqual(published.slice(10));
  });

  it('natsQueue: kill the poller mid-batch; its records come back to the survivor', async () => {
    await jsm.streams.add({ name: 'WORK', subjects: ['work.>'], retention: RetentionPolicy.Workqueue });
    fn.calls.length = 0;
    let holding = false;
    fn.respond = async () => {
      if (!holding) {
        holding = true;
        await new Promise(() => undefined); // the first batch hangs: its poller will die with it
      }
      return { body: null };
    };
    const mapping = esm({ function: 'work', source: { natsQueue: { stream: 'WORK' } }, batchSize: 4 });
    // A short ack wait: the dead poller's batch comes back when it runs out.
    const tuning = { ackWaitMs: 2000 };
    const a = await poller(mapping, 'poller-a', tuning);
    for (let n = 0; n < 4; n++) await js.publish('work.x', JSON.stringify({ n }));
    await until(() => holding, 'a batch in flight at poller A');
    await a.kill('SIGKILL');
    await poller(mapping, 'poller-b', tuning);
    for (let n = 4; n < 20; n++) await js.publish('work.x', JSON.stringify({ n }));
    await until(
      async () => (await jsm.streams.info('WORK')).state.messages === 0,
      'every record acknowledged',
      20_000,
    );
    const delivered = new Set(
      fn.calls.flatMap((c) =>
        (c.event as RawEv).Records.map(
          (r) => (JSON.parse(Buffer.from(r.nats.data, 'base64').toString()) as { n: number }).n,
        ),
      ),
    );
    expect([...delivered].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, n) => n));
  });
});
