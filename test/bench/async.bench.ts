/**
 * Async pipeline benchmark: durable accepts/s through EventAcceptor.acceptEvent, and processed
 * events/s through the dispatcher to a no-op invoker, each against raw JetStream publish
 * throughput measured in the same run on the same nats-server (file storage, R1) — at two
 * durability settings, one nats-server each: `sync_interval: always` (the chart's default: fsync
 * before every acknowledgement, so before a 202) and nats-server's own default (sync_interval
 * unset: an fsync every 2 minutes, acknowledgements first). Every ratio compares measurements of
 * one server, so both settings have their own raw baseline.
 *
 *   npx tsx test/bench/async.bench.ts            (results in bench-results/async.json)
 *   SLUICE_BENCH_EVENTS=50000 npx tsx test/bench/async.bench.ts
 */
import { mkdirSync, statfsSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import {
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
} from '@nats-io/jetstream';
import { EventAcceptor } from '../../gateway/async/accept.js';
import { BacklogGuard, DEFAULT_BACKLOG_LIMIT, streamBacklogCounter } from '../../gateway/async/backlog.js';
import { eventHeaders } from '../../gateway/async/event.js';
import { FakeInvoker } from '../support/gateway/fake-invoker.js';
import { Subjects } from '../../api/nats-naming.js';
import { NatsServer } from '../integration/support/nats.js';
import { fnResource, pipelineNames, startPipeline, waitFor } from '../integration/support/async-pipeline.js';

const EVENTS = Number(process.env.SLUICE_BENCH_EVENTS ?? 20_000);
const IN_FLIGHT = Number(process.env.SLUICE_BENCH_IN_FLIGHT ?? 128);
const CONCURRENCY = Number(process.env.SLUICE_BENCH_CONCURRENCY ?? 256);
const PAYLOAD = Buffer.from(JSON.stringify({ order: 42, items: ['x'.repeat(200)] }));

/** Runs `count` operations with `inFlight` of them outstanding; returns operations per second. */
async function rate(count: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) await op(next++);
    }),
  );
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return count / s;
}

async function rawPublish(
  js: JetStreamClient,
  subject: string,
  count: number,
  withHeaders = false,
): Promise<number> {
  return rate(count, IN_FLIGHT, (i) =>
    js.publish(subject, PAYLOAD, {
      msgID: `raw-${subject}-${i}`,
      // The same headers an accepted event carries, to separate their cost from the pipeline's.
      ...(withHeaders
        ? {
            headers: eventHeaders({
              eventId: `raw-${subject}-${i}`,
              requestId: `raw-${i}`,
              enqueuedAt: Date.now(),
              attempt: 1,
            }),
          }
        : {}),
    }),
  );
}

/** One durability setting of the nats-server: its key in async.json and its sync_interval. */
interface Setting {
  key: 'syncAlways' | 'natsDefault';
  /** Written into the server's jetstream block; undefined leaves nats-server's default. */
  syncInterval: string | undefined;
  description: string;
}

const SETTINGS: Setting[] = [
  {
    key: 'syncAlways',
    syncInterval: 'always',
    description: "sync_interval: always (the chart's default): fsync before every acknowledgement",
  },
  {
    key: 'natsDefault',
    syncInterval: undefined,
    description: "sync_interval unset (nats-server's default): an fsync every 2m, acknowledgements first",
  },
];

const round = (x: number): number => Math.round(x);
const ratio = (x: number, of: number): number => Number((x / of).toFixed(3));
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

/** The JetStream store's file system: on tmpfs an fsync costs nothing and `always` measures nothing. */
function storeFileSystem(): string {
  const type = statfsSync(tmpdir()).type;
  const names: Record<number, string> = {
    0xef53: 'ext4',
    0x58465342: 'xfs',
    0x9123683e: 'btrfs',
    0x01021994: 'tmpfs',
  };
  return names[type] ?? `0x${type.toString(16)}`;
}

/** Every measurement of one setting, on a nats-server of its own (its return type is inferred). */
async function measure(setting: Setting) {
  const server = await NatsServer.start(setting.syncInterval ? { syncInterval: setting.syncInterval } : {});
  try {
    // Raw publishes and the acceptor share one connection: the platform administrator's.
    const nc = await server.connect('admin');
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await jsm.streams.add({
      name: 'BENCH_RAW',
      subjects: ['raw.>'],
      storage: StorageType.File,
      retention: RetentionPolicy.Workqueue,
      duplicate_window: 120e9,
    });
    const invoker = new FakeInvoker();
    invoker.recordCalls = false;
    let processed = 0;
    invoker.behaviour = (req) => {
      processed++;
      return FakeInvoker.ok(req);
    };
    const fn = (name: string) => fnResource('bench', name, { scaling: { maxReplicas: CONCURRENCY } });
    const p = await startPipeline(server, {
      id: 'bench',
      invoker,
      functions: [fn('e2e')],
      dispatcher: { perReplicaConcurrency: CONCURRENCY, fetchExpiresMs: 2000 },
    });
    const subjects = new Subjects('bench');
    const acceptor = new EventAcceptor({ js, subjects });
    const accept =
      (fnName: string, tag: string, by: EventAcceptor = acceptor) =>
      (i: number) =>
        by.acceptEvent({
          namespace: 'bench',
          function: fnName,
          payload: PAYLOAD,
          requestId: `${tag}-${i}`,
        });

    // Warm-up (connections, stream files, JIT).
    await rawPublish(js, 'raw.warm', 1000);
    await rate(1000, IN_FLIGHT, accept('nobody', 'warm'));

    // 1. Raw JetStream publish with a PubAck per message (and a Nats-Msg-Id, as accepts have).
    const raw = await rawPublish(js, 'raw.a', EVENTS);
    // 2. Durable accepts: validation, headers, Nats-Msg-Id, PubAck. No dispatcher consumes 'queued'.
    const accepted = await rate(EVENTS, IN_FLIGHT, accept('queued', 'acc'));
    // 2b. The cost of two isolation controls, each beside a plain accept, rounds interleaved: the
    // gateway's own NATS user (operator mode: its permission list is checked on every publish)
    // and the per-function backlog limit (a cached count of the function's waiting events, read
    // again every refreshMs). Functions nobody dispatches; the limit is never reached.
    const gwNc = await server.connect('gateway', { names: pipelineNames('bench') });
    const asGateway = new EventAcceptor({ js: jetstream(gwNc), subjects });
    const limited = new EventAcceptor({
      js,
      subjects,
      backlog: new BacklogGuard({
        counter: streamBacklogCounter(jsm, pipelineNames('bench').asyncStream, subjects),
        limit: { maxEvents: 1e9, refreshMs: DEFAULT_BACKLOG_LIMIT.refreshMs },
      }),
    });
    const controls = { plain: [] as number[], gatewayUser: [] as number[], backlogLimit: [] as number[] };
    for (let r = 0; r < 3; r++) {
      controls.plain.push(await rate(EVENTS / 2, IN_FLIGHT, accept('ctl-plain', `p${r}`)));
      controls.gatewayUser.push(await rate(EVENTS / 2, IN_FLIGHT, accept('ctl-gw', `g${r}`, asGateway)));
      controls.backlogLimit.push(await rate(EVENTS / 2, IN_FLIGHT, accept('ctl-limit', `l${r}`, limited)));
    }
    await gwNc.close();
    // Raw again after the accepts, so drift over the run shows; and raw with the event headers.
    const raw2 = await rawPublish(js, 'raw.b', EVENTS);
    const rawHeaders = await rawPublish(js, 'raw.c', EVENTS, true);

    // 3. Dispatch from a backlog: the 'queued' events, once its consumer and pull loop start.
    processed = 0;
    const t0 = Date.now();
    p.source.upsert(fn('queued'));
    await waitFor(
      () => processed >= EVENTS,
      300_000,
      () => `${processed} processed`,
    );
    const drain = EVENTS / ((Date.now() - t0) / 1000);

    // 4. End to end: accept and dispatch at the same time, until the last event ran.
    processed = 0;
    const t1 = Date.now();
    await rate(EVENTS, IN_FLIGHT, accept('e2e', 'e2e'));
    await waitFor(
      () => processed >= EVENTS,
      300_000,
      () => `${processed} processed`,
    );
    const endToEnd = EVENTS / ((Date.now() - t1) / 1000);

    const rawMean = (raw + raw2) / 2;
    const results = {
      syncInterval: setting.syncInterval ?? 'unset (2m)',
      description: setting.description,
      eventsPerSecond: {
        rawJetStreamPublish: round(rawMean),
        rawJetStreamPublishRuns: [round(raw), round(raw2)],
        rawJetStreamPublishWithEventHeaders: round(rawHeaders),
        acceptEvent: round(accepted),
        dispatchFromBacklog: round(drain),
        endToEnd: round(endToEnd),
      },
      isolationControls: {
        note: 'accepts/s (median of 3 interleaved rounds of EVENTS/2); ratio = with the control / plain accept as the platform administrator',
        plainAccept: round(median(controls.plain)),
        asGatewayUser: round(median(controls.gatewayUser)),
        withBacklogLimit: round(median(controls.backlogLimit)),
        runs: {
          plain: controls.plain.map(round),
          gatewayUser: controls.gatewayUser.map(round),
          backlogLimit: controls.backlogLimit.map(round),
        },
        ratio: {
          gatewayUserPermissions: ratio(median(controls.gatewayUser), median(controls.plain)),
          backlogLimit: ratio(median(controls.backlogLimit), median(controls.plain)),
        },
      },
      ratioToRawPublish: {
        acceptEvent: ratio(accepted, rawMean),
        acceptEventVsRawWithEventHeaders: ratio(accepted, rawHeaders),
        dispatchFromBacklog: ratio(drain, rawMean),
        endToEnd: ratio(endToEnd, rawMean),
      },
    };
    console.log(
      `${setting.key} (${setting.description}): ` +
        `accept ${round(accepted)}/s = ${results.ratioToRawPublish.acceptEvent}× raw publish (${round(rawMean)}/s); ` +
        `dispatch ${round(drain)}/s = ${results.ratioToRawPublish.dispatchFromBacklog}×; ` +
        `end to end ${round(endToEnd)}/s = ${results.ratioToRawPublish.endToEnd}×; ` +
        `controls: gateway user ${results.isolationControls.ratio.gatewayUserPermissions}×, ` +
        `backlog limit ${results.isolationControls.ratio.backlogLimit}× a plain accept`,
    );
    await p.close();
    await nc.close();
    const nats = server.log.find((l) => l.includes('Version:'))?.replace(/^.*Version:\s*/, '') ?? 'unknown';
    return { nats, results };
  } finally {
    await server.cleanup();
  }
}

async function main(): Promise<void> {
  const fileSystem = storeFileSystem();
  if (fileSystem === 'tmpfs')
    console.warn(`${tmpdir()} is tmpfs: an fsync costs nothing there; set TMPDIR to a disk`);
  type Results = Awaited<ReturnType<typeof measure>>['results'];
  const bySetting: Partial<Record<Setting['key'], Results>> = {};
  let nats = 'unknown';
  for (const setting of SETTINGS) {
    const m = await measure(setting);
    bySetting[setting.key] = m.results;
    nats = m.nats;
  }
  const always = bySetting.syncAlways!.eventsPerSecond;
  const dflt = bySetting.natsDefault!.eventsPerSecond;
  const results = {
    date: new Date().toISOString(),
    host: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    nats,
    setup: {
      events: EVENTS,
      payloadBytes: PAYLOAD.length,
      publishesInFlight: IN_FLIGHT,
      dispatchConcurrency: CONCURRENCY,
      storage: `file, 1 replica, on ${fileSystem}; one nats-server per setting, every measurement of a setting on it`,
      settingsInOrder: SETTINGS.map((s) => s.key),
    },
    // Each setting: eventsPerSecond, isolationControls and ratioToRawPublish (to its own raw baseline).
    bySyncInterval: bySetting,
    // What fsync-before-ack costs: syncAlways / natsDefault, each measured on its own server.
    syncAlwaysVsNatsDefault: {
      rawJetStreamPublish: ratio(always.rawJetStreamPublish, dflt.rawJetStreamPublish),
      acceptEvent: ratio(always.acceptEvent, dflt.acceptEvent),
      dispatchFromBacklog: ratio(always.dispatchFromBacklog, dflt.dispatchFromBacklog),
      endToEnd: ratio(always.endToEnd, dflt.endToEnd),
    },
  };
  const out = path.resolve(new URL('../..', import.meta.url).pathname, 'bench-results', 'async.json');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  console.log(JSON.stringify(results, null, 2));
  console.log(
    `sync always / nats default: raw ${results.syncAlwaysVsNatsDefault.rawJetStreamPublish}×, ` +
      `accept ${results.syncAlwaysVsNatsDefault.acceptEvent}×, end to end ${results.syncAlwaysVsNatsDefault.endToEnd}×  → ${out}`,
  );
}

await main();
