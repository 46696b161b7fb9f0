/**
 * Poller benchmark (`npx tsx test/bench/poller.bench.ts`, part of `make bench`): on one real
 * nats-server, in the same run,
 * - raw JetStream consume throughput (pull consumer, one ack per message) — the ceiling;
 * - event-source-mapping throughput through batches of 10 and 100 to a no-op function, both
 *   in-process (the poller's own overhead) and over HTTP (a no-op Invoke API endpoint);
 * - scale-decision reaction time: a backlog appears → the autoscaler decides (1 s ticks, as deployed).
 * Results go to bench-results/poller.json; ratios are printed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { AckPolicy, RetentionPolicy } from '@nats-io/jetstream';
import { Autoscaler, type Workload } from '../../poller/autoscaler/autoscaler.js';
import { JetStreamDemand } from '../../poller/autoscaler/demand.js';
import { HttpInvoker, type Invoker } from '../../poller/invoker.js';
import { SOURCES } from '../../poller/sources/index.js';
import { FakeInvoker, ok } from '../support/poller/fake-invoker.js';
import { makeKit, mapping, type Kit } from '../support/poller/kit.js';
import { until } from '../support/time.js';
import { NatsServer } from '../integration/support/nats.js';

const N = Number(process.env.SLUICE_BENCH_MESSAGES ?? 20_000);
const BODY = JSON.stringify({ orderId: 'o-123456', amount: 42.5, currency: 'EUR', items: [1, 2, 3] });

async function fill(kit: Kit, stream: string, n: number): Promise<void> {
  await kit.jsm.streams.add({
    name: stream,
    subjects: [`${stream.toLowerCase()}.>`],
    retention: RetentionPolicy.Workqueue,
  });
  const subject = `${stream.toLowerCase()}.x`;
  for (let i = 0; i < n; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, n - i) }, () => kit.js.publish(subject, BODY)));
  }
}

async function rawConsume(kit: Kit): Promise<number> {
  await fill(kit, 'RAW', N);
  await kit.jsm.consumers.add('RAW', { durable_name: 'raw', ack_policy: AckPolicy.Explicit });
  const consumer = await kit.js.consumers.get('RAW', 'raw');
  const start = performance.now();
  const iter = await consumer.consume({ max_messages: 1000 });
  let n = 0;
  for await (const m of iter) {
    m.ack();
    if (++n === N) break;
  }
  await iter.close();
  await until(async () => (await kit.jsm.streams.info('RAW')).state.messages === 0, 'raw acks', 60_000);
  return N / ((performance.now() - start) / 1000);
}

async function esm(
  kit: Kit,
  stream: string,
  batchSize: number,
  invoker: Invoker,
): Promise<{ rate: number; batches: number }> {
  await fill(kit, stream, N);
  const src = SOURCES.natsQueue.create(
    mapping({ function: 'noop', source: { natsQueue: { stream } }, batchSize, maximumConcurrency: 10 }),
    kit.deps(invoker, 'bench', { ackWaitMs: 30_000 }),
  );
  const start = performance.now();
  await src.start();
  await until(
    async () => (await kit.jsm.streams.info(stream)).state.messages === 0,
    `${stream} drained`,
    120_000,
  );
  const seconds = (performance.now() - start) / 1000;
  await src.close();
  const batches = invoker instanceof FakeInvoker ? invoker.calls.length : Math.ceil(N / batchSize);
  return { rate: N / seconds, batches };
}

async function reaction(kit: Kit, samples: number): Promise<number[]> {
  await kit.jsm.streams.add({ name: 'REACT', subjects: ['react.>'], retention: RetentionPolicy.Workqueue });
  const m = mapping({ function: 'react', source: { natsQueue: { stream: 'REACT', consumer: 'react' } } });
  await kit.jsm.consumers.add('REACT', { durable_name: 'react', ack_policy: AckPolicy.Explicit });
  let replicas = 0;
  let decidedAt = 0;
  const workload = (): Workload => ({
    namespace: 'shop',
    function: 'react',
    version: '$LATEST',
    deployment: 'react-latest',
    replicas,
    readyReplicas: replicas,
    policy: { minReplicas: 0, maxReplicas: 10, concurrencyPerPod: 1, scaleToZeroAfterSeconds: 0 },
  });
  const autoscaler = new Autoscaler({
    view: { workloads: () => [workload()] },
    target: {
      scale: (_w, r) => {
        if (r > replicas && decidedAt === 0) decidedAt = performance.now();
        replicas = r;
        return Promise.resolve();
      },
    },
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
  const timer = setInterval(() => void autoscaler.tick(), 1000);
  const out: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      // Wait a random part of a tick so samples do not line up with the ticks.
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 1000));
      decidedAt = 0;
      const t0 = performance.now();
      await kit.js.publish('react.x', BODY);
      await until(() => decidedAt > 0, 'a decision', 10_000);
      out.push(decidedAt - t0);
      await kit.jsm.streams.purge('REACT');
      await until(() => replicas === 0, 'back to zero', 10_000);
    }
  } finally {
    clearInterval(timer);
  }
  return out;
}

async function main(): Promise<void> {
  const server = await NatsServer.start();
  const kit = await makeKit(server);
  const http = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('null'));
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const httpUrl = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
  try {
    const raw = await rawConsume(kit);
    const b10 = await esm(kit, 'B10', 10, new FakeInvoker(() => ok(null)));
    const b100 = await esm(kit, 'B100', 100, new FakeInvoker(() => ok(null)));
    const h10 = await esm(kit, 'H10', 10, new HttpInvoker({ baseUrl: httpUrl }));
    const h100 = await esm(kit, 'H100', 100, new HttpInvoker({ baseUrl: httpUrl }));
    const react = (await reaction(kit, 7)).sort((a, b) => a - b);
    const pct = (q: number): number => react[Math.min(react.length - 1, Math.floor(q * react.length))] ?? NaN;
    const results = {
      messages: N,
      payloadBytes: BODY.length,
      rawConsumePerSecond: Math.round(raw),
      esm: {
        batch10InProcessPerSecond: Math.round(b10.rate),
        batch100InProcessPerSecond: Math.round(b100.rate),
        batch10HttpPerSecond: Math.round(h10.rate),
        batch100HttpPerSecond: Math.round(h100.rate),
      },
      ratioToRaw: {
        batch10InProcess: +(b10.rate / raw).toFixed(3),
        batch100InProcess: +(b100.rate / raw).toFixed(3),
        batch10Http: +(h10.rate / raw).toFixed(3),
        batch100Http: +(h100.rate / raw).toFixed(3),
      },
      scaleDecisionMs: {
        samples: react.map((x) => Math.round(x)),
        p50: Math.round(pct(0.5)),
        max: Math.round(pct(1)),
        tickMs: 1000,
      },
      environment: { node: process.version, cpus: (await import('node:os')).cpus().length },
    };
    const dir = path.resolve(new URL('../..', import.meta.url).pathname, 'bench-results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'poller.json'), JSON.stringify(results, null, 2) + '\n');
    process.stdout.write(
      [
        `raw JetStream consume: ${results.rawConsumePerSecond} msg/s`,
        `ESM batch 10  (in-process no-op): ${results.esm.batch10InProcessPerSecond} msg/s = ${results.ratioToRaw.batch10InProcess} × raw`,
        `ESM batch 100 (in-process no-op): ${results.esm.batch100InProcessPerSecond} msg/s = ${results.ratioToRaw.batch100InProcess} × raw`,
        `ESM batch 10  (HTTP no-op):       ${results.esm.batch10HttpPerSecond} msg/s = ${results.ratioToRaw.batch10Http} × raw`,
        `ESM batch 100 (HTTP no-op):       ${results.esm.batch100HttpPerSecond} msg/s = ${results.ratioToRaw.batch100Http} × raw`,
        `backlog → scale decision: p50 ${results.scaleDecisionMs.p50} ms, max ${results.scaleDecisionMs.max} ms (1 s ticks)`,
        `written to bench-results/poller.json`,
        '',
      ].join('\n'),
    );
  } finally {
    http.close();
    await kit.close();
    await server.cleanup();
  }
}

await main();
