/**
 * Gateway benchmark (make bench), side by side in one run on the real local cluster:
 *  1. Warm sync calls to ONE warm function pod (memoryMB 1769 = one full vCPU,
 *     concurrencyPerPod 8) at fixed concurrency 1 and 8:
 *       gateway — through the sluice-gateway Service (bearer token of a ServiceAccount),
 *       direct  — straight to the pod's invoke endpoint (POST /2015-03-31/functions/function/invocations),
 *       nginx   — through Debian's nginx (keepalive upstream) to the same pod.
 *     All three reach the cluster through a loopback forwarder (test/cluster/forward.sh), so its
 *     cost is common to all three. Interleaved rounds, so machine noise hits all alike.
 *     Reports latency p50/p99, throughput, the gateway's added latency vs direct and its
 *     throughput relative to nginx.
 *  2. Cold start: a second function (minReplicas 0) scaled to zero (Deployment scale 0, no pod
 *     left) → first response through the gateway; median of 10.
 *     The warm function is deleted first: the node has 2 CPUs, each pod requests one.
 * Needs nginx (apt-get install -y nginx); results: bench-results/gateway.json.
 *   npx tsx test/bench/gateway.bench.ts
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { Watch, type V1EndpointSlice } from '@kubernetes/client-node';
import { fnManifest, forwardGateway, serviceAccountToken, waitReady } from '../e2e/support/gateway.js';
import { apply, cluster, createNamespace, forward, kubectl, waitFor } from '../e2e/support/kube.js';
import { freePort } from '../support/net.js';
import { INVOKE_TOKEN_HEADER } from '../../api/invoke-token.js';
import { invokeTokenOf } from '../e2e/support/pod.js';

const CALLS = Number(process.env.SLUICE_BENCH_GW_CALLS ?? 3000);
const ROUNDS = Number(process.env.SLUICE_BENCH_GW_ROUNDS ?? 6);
const CONCURRENCIES = [1, 8];
const COLD_RUNS = Number(process.env.SLUICE_BENCH_COLD_RUNS ?? 10);
const HANDLER = 'exports.handler = async (event) => ({ ok: true, n: event.n });';
const BODY = '{"n":1}';
const POD_PATH = '/2015-03-31/functions/function/invocations';

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;
const round = (x: number): number => Math.round(x * 1000) / 1000;

interface Target {
  name: 'gateway' | 'direct' | 'nginx';
  base: string;
  path: string;
  headers: Record<string, string>;
}

/** One POST over a keep-alive agent; resolves with the status once the body is read. */
function post(agent: Agent, t: Target): Promise<{ status: number; error: boolean }> {
  const u = new URL(t.base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: u.hostname,
        port: u.port,
        method: 'POST',
        path: t.path,
        headers: { 'content-type': 'application/json', 'content-length': BODY.length, ...t.headers },
        timeout: 30_000,
      },
      (res) => {
        res.on('data', () => {});
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, error: res.headers['x-amz-function-error'] !== undefined }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(BODY);
  });
}

/** `calls` requests by `concurrency` workers; latencies (ms) and wall time (ms). */
async function batch(
  agent: Agent,
  t: Target,
  calls: number,
  concurrency: number,
): Promise<{ lat: number[]; wallMs: number }> {
  const lat: number[] = [];
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < calls) {
        next++;
        const t0 = process.hrtime.bigint();
        const r = await post(agent, t);
        lat.push(ms(t0));
        if (r.status !== 200 || r.error)
          throw new Error(`${t.name}: HTTP ${r.status} (function error: ${r.error})`);
      }
    }),
  );
  return { lat, wallMs: ms(start) };
}

/** Debian's nginx in the foreground with its own config, pid, log and temp paths. */
async function startNginx(
  upstream: string,
  headers: Record<string, string>,
): Promise<{ base: string; stop: () => Promise<void> }> {
  const which = spawnSync('sh', ['-c', 'command -v nginx || ls /usr/sbin/nginx'], { encoding: 'utf8' });
  const bin = which.stdout.trim().split('\n')[0];
  if (!bin) throw new Error('nginx not found: apt-get install -y nginx');
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-bench-nginx-'));
  const port = await freePort();
  const conf = `
daemon off;
worker_processes ${Math.min(2, cpus().length)};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream pod { server ${upstream}; keepalive 32; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://pod;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`;
  writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const child: ChildProcess = spawn(bin, ['-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    'nginx to listen',
    async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}`);
      const ok = await fetch(`${base}${POD_PATH}`, { method: 'POST', body: BODY, headers }).catch(
        () => undefined,
      );
      return ok?.status === 200 ? true : undefined;
    },
    10_000,
    100,
  );
  return {
    base,
    stop: async () => {
      child.kill('SIGQUIT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function podIP(ns: string, fn: string): Promise<string> {
  return waitFor(`a running pod of ${fn}`, async () => {
    const l = await cluster().core.listNamespacedPod({
      namespace: ns,
      labelSelector: `sluice.dev/function=${fn}`,
    });
    const p = l.items.find(
      (x) =>
        !x.metadata?.deletionTimestamp &&
        x.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    return p?.status?.podIP;
  });
}

async function noPods(ns: string, fn: string): Promise<void> {
  await waitFor(
    `no pod of ${fn}`,
    async () => {
      const l = await cluster().core.listNamespacedPod({
        namespace: ns,
        labelSelector: `sluice.dev/function=${fn}`,
      });
      return l.items.length === 0 ? true : undefined;
    },
    120_000,
    100,
  );
}

type Stats = Record<string, number>;

async function warm(targets: Target[]): Promise<Record<string, Record<string, Stats>>> {
  const out: Record<string, Record<string, Stats>> = {};
  for (const c of CONCURRENCIES) {
    const agents = new Map(targets.map((t) => [t.name, new Agent({ keepAlive: true, maxSockets: c })]));
    const lat = new Map<string, number[]>(targets.map((t) => [t.name, []]));
    const wall = new Map<string, number>(targets.map((t) => [t.name, 0]));
    // Warm-up: connections open, the TokenReview cached, JIT warm.
    for (const t of targets) await batch(agents.get(t.name)!, t, 200, c);
    const per = Math.ceil(CALLS / ROUNDS);
    for (let r = 0; r < ROUNDS; r++) {
      // Interleaved, order rotated each round.
      for (let i = 0; i < targets.length; i++) {
        const t = targets[(i + r) % targets.length]!;
        const b = await batch(agents.get(t.name)!, t, per, c);
        lat.get(t.name)!.push(...b.lat);
        wall.set(t.name, wall.get(t.name)! + b.wallMs);
      }
    }
    for (const a of agents.values()) a.destroy();
    const stats: Record<string, Stats> = {};
    for (const t of targets) {
      const xs = lat.get(t.name)!;
      stats[t.name] = {
        calls: xs.length,
        p50Ms: round(percentile(xs, 50)),
        p99Ms: round(percentile(xs, 99)),
        reqPerSec: Math.round((xs.length / wall.get(t.name)!) * 1000),
      };
    }
    const g = stats.gateway!;
    const d = stats.direct!;
    const n = stats.nginx!;
    stats.gatewayVsDirect = {
      addedP50Ms: round(g.p50Ms! - d.p50Ms!),
      addedP99Ms: round(g.p99Ms! - d.p99Ms!),
    };
    stats.nginxVsDirect = { addedP50Ms: round(n.p50Ms! - d.p50Ms!), addedP99Ms: round(n.p99Ms! - d.p99Ms!) };
    stats.throughputRatio = {
      gatewayOverNginx: round(g.reqPerSec! / n.reqPerSec!),
      gatewayOverDirect: round(g.reqPerSec! / d.reqPerSec!),
    };
    out[`concurrency${c}`] = stats;
    console.log(`concurrency ${c}:`, stats);
  }
  return out;
}

const BENCH_T0 = process.hrtime.bigint();

/**
 * Resolves with the time (hrtime ms) the function's EndpointSlice first lists a ready endpoint:
 * when a gateway that waited for the slice could have sent the call at the earliest.
 */
async function sliceReadyAt(ns: string, fn: string): Promise<{ at: Promise<number>; stop: () => void }> {
  let resolve: (t: number) => void = () => undefined;
  const at = new Promise<number>((r) => (resolve = r));
  const req = await new Watch(cluster().kc).watch(
    `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
    { labelSelector: `sluice.dev/function=${fn}` },
    (_type: string, slice: V1EndpointSlice) => {
      if ((slice.endpoints ?? []).some((e) => e.conditions?.ready === true)) resolve(ms(BENCH_T0));
    },
    () => undefined,
  );
  return { at, stop: () => req.abort() };
}
/** One cold start of `fn`: scaled to zero, no pod left → the first 200 through the gateway. */
async function oneColdStart(
  ns: string,
  fn: string,
  gwBase: string,
  token: string,
): Promise<{ took: number; aheadOfSlice: number }> {
  const deploy = `${fn}-latest`;
  const s = await kubectl(['-n', ns, 'scale', 'deployment', deploy, '--replicas=0']);
  if (s.code !== 0) throw new Error(`scale ${deploy} to 0: ${s.stderr}`);
  await noPods(ns, fn);
  // Let the gateways' endpoint watches see the last pod go.
  await new Promise((r) => setTimeout(r, 1500));
  const slice = await sliceReadyAt(ns, fn);
  const t0 = process.hrtime.bigint();
  const res = await fetch(`${gwBase}/2015-03-31/functions/${ns}:function:${fn}/invocations`, {
    method: 'POST',
    body: BODY,
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(60_000),
  });
  const body = await res.text();
  const took = ms(t0);
  if (res.status !== 200 || res.headers.get('x-amz-function-error'))
    throw new Error(`cold call to ${fn}: HTTP ${res.status} ${body}`);
  const answeredAt = ms(BENCH_T0);
  // The slice's ready endpoint, seen by this process's own watch (the gateway's watch sees it
  // about as soon): how long before it the call was answered (negative: after).
  const sliceAt = await Promise.race([
    slice.at,
    new Promise<number>((r) => setTimeout(() => r(NaN), 15_000)),
  ]);
  slice.stop();
  return { took: round(took), aheadOfSlice: round(sliceAt - answeredAt) };
}

function coldSummary(
  memoryMB: number,
  runs: { took: number; aheadOfSlice: number }[],
): Record<string, unknown> {
  const times = runs.map((r) => r.took);
  const ahead = runs.map((r) => r.aheadOfSlice);
  return {
    runs: runs.length,
    memoryMB,
    medianMs: round(percentile(times, 50)),
    minMs: Math.min(...times),
    maxMs: Math.max(...times),
    timesMs: times,
    answeredBeforeSliceReadyMs: {
      median: round(
        percentile(
          ahead.filter((x) => !Number.isNaN(x)),
          50,
        ),
      ),
      all: ahead,
      note: "the gateway probes a starting pod's /readyz itself; without that it would send the call only after the slice said ready",
    },
    note: 'Deployment scaled to 0 and no pod left (+1.5 s for the gateways to see it) → first 200 through the gateway, via the loopback forwarder',
  };
}

/**
 * Cold starts of a 1769 MB function (one vCPU requested) and a 128 MB one (73m requested, CPU
 * limit at the platform's floor), interleaved so both see the same machine.
 */
async function coldStarts(ns: string, gwBase: string, token: string): Promise<Record<string, unknown>> {
  const runs = new Map<string, { took: number; aheadOfSlice: number }[]>(
    COLD_FUNCTIONS.map(([fn]) => [fn, []]),
  );
  for (let i = 0; i < COLD_RUNS; i++) {
    for (const [fn] of COLD_FUNCTIONS) {
      const r = await oneColdStart(ns, fn, gwBase, token);
      runs.get(fn)?.push(r);
      console.log(
        `cold start ${fn} ${i + 1}/${COLD_RUNS}: ${r.took.toFixed(0)} ms; answered ${r.aheadOfSlice.toFixed(0)} ms before the EndpointSlice said ready`,
      );
    }
  }
  const a = coldSummary(1769, runs.get('cold') ?? []);
  const b = coldSummary(128, runs.get('small') ?? []);
  return {
    ...a,
    memory128: b,
    ratio128over1769: round((b.medianMs as number) / (a.medianMs as number)),
  };
}

/** The cold-start functions: name and memory size. */
const COLD_FUNCTIONS = [
  ['cold', 1769],
  ['small', 128],
] as const;

const results: Record<string, unknown> = { date: new Date().toISOString(), cpus: cpus().length };
const ns = await createNamespace('bench-gw');
const stops: (() => Promise<void>)[] = [];
try {
  await Promise.all([
    apply(
      fnManifest(ns.name, 'warm', {
        code: { inline: HANDLER },
        memoryMB: 1769,
        timeoutSeconds: 10,
        scaling: { minReplicas: 1, maxReplicas: 1, concurrencyPerPod: 8 },
      }),
    ),
    // Scaled to zero between calls: a 1769 MB function (one vCPU) and a 128 MB one (73m requested).
    ...COLD_FUNCTIONS.map(([name, memoryMB]) =>
      apply(
        fnManifest(ns.name, name, {
          code: { inline: HANDLER },
          memoryMB,
          // The gateway holds a cold call up to the timeout.
          timeoutSeconds: 30,
          scaling: { minReplicas: 0, maxReplicas: 1, concurrencyPerPod: 1 },
        }),
      ),
    ),
  ]);
  const token = await serviceAccountToken(ns.name, 'default');
  await waitReady(ns.name, 'warm');
  for (const [name] of COLD_FUNCTIONS) await waitReady(ns.name, name);
  const ip = await podIP(ns.name, 'warm');
  const gw = await forwardGateway();
  stops.push(gw.stop);
  const pod = await forward(`${ip}:8080`);
  stops.push(pod.stop);
  // Straight to the pod (and through nginx): with the function's invoke token, as the gateway sends it.
  const podHeaders = { [INVOKE_TOKEN_HEADER]: await invokeTokenOf(ns.name, 'warm') };
  const nginx = await startNginx(new URL(pod.base).host, podHeaders);
  stops.push(nginx.stop);
  const gwPath = `/2015-03-31/functions/${ns.name}:function:warm/invocations`;
  const targets: Target[] = [
    { name: 'gateway', base: gw.base, path: gwPath, headers: { authorization: `Bearer ${token}` } },
    { name: 'direct', base: pod.base, path: POD_PATH, headers: podHeaders },
    { name: 'nginx', base: nginx.base, path: POD_PATH, headers: podHeaders },
  ];
  await waitFor('the gateway to answer for warm', async () => {
    const r = await fetch(`${gw.base}${gwPath}`, {
      method: 'POST',
      body: BODY,
      headers: { authorization: `Bearer ${token}` },
    });
    return r.status === 200 ? true : undefined;
  });
  results.setup = {
    pod: 'one warm pod: memoryMB 1769 (1 vCPU), concurrencyPerPod 8, maxReplicas 1',
    handler: HANDLER,
    callsPerTargetAndConcurrency: CALLS,
    rounds: ROUNDS,
    client: 'node:http keep-alive Agent, maxSockets = concurrency',
    note: 'gateway, direct and nginx all reach the cluster through the same kind of loopback forwarder (test/cluster/forward.sh); its cost is common to all three',
    nginx: 'Debian nginx, worker_processes 2, upstream keepalive 32, proxy_pass to the pod forward',
  };
  results.warm = await warm(targets);
  // The node has 2 CPUs: the warm pod's full vCPU goes before the cold function's pod needs one.
  for (const s of stops.splice(1).reverse()) await s();
  await kubectl(['-n', ns.name, 'delete', 'fn', 'warm', '--wait=false']);
  await noPods(ns.name, 'warm');
  results.coldStart = await coldStarts(ns.name, gw.base, token);
  console.log('cold start:', results.coldStart);
} finally {
  for (const s of stops.reverse()) await s().catch(() => {});
  await ns.remove();
}

const warmRes = results.warm as Record<string, Record<string, Stats>>;
const rows: string[] = [];
rows.push('conc  target    p50 ms   p99 ms    req/s');
for (const [k, v] of Object.entries(warmRes)) {
  for (const t of ['gateway', 'direct', 'nginx']) {
    const s = v[t]!;
    rows.push(
      `${k.replace('concurrency', '').padEnd(5)} ${t.padEnd(8)} ${s.p50Ms!.toFixed(3).padStart(7)} ${s.p99Ms!.toFixed(3).padStart(8)} ${String(s.reqPerSec).padStart(8)}`,
    );
  }
  rows.push(
    `      gateway added vs direct: p50 ${v.gatewayVsDirect!.addedP50Ms} ms, p99 ${v.gatewayVsDirect!.addedP99Ms} ms; throughput gateway/nginx ${v.throughputRatio!.gatewayOverNginx}`,
  );
}
const cold = results.coldStart as {
  medianMs: number;
  memory128: { medianMs: number };
  ratio128over1769: number;
};
rows.push(
  `cold start (scaled to zero → first response via gateway), median of ${COLD_RUNS}: 1769 MB ${cold.medianMs} ms, 128 MB ${cold.memory128.medianMs} ms (ratio ${cold.ratio128over1769})`,
);
rows.push('all three paths go through the loopback forwarder; its cost is common to all');
console.log(rows.join('\n'));
const out = path.join(new URL('../..', import.meta.url).pathname, 'bench-results', 'gateway.json');
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
console.log(`wrote ${out}`);
process.exit(0);
