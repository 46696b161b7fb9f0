/**
 * Cold starts with zip packages (make bench; issue 16), side by side in one run on the local
 * cluster: three functions with the same handler and memory — inline code (the baseline, a
 * ConfigMap), a 1 MB zip package and a 30 MB zip package (incompressible filler, so the zip is as
 * large as it says) — each scaled to zero (no pod left) and called through the gateway, rounds
 * interleaved so machine noise hits all alike. A package's cold start adds the init container
 * sluice-fetch-code: download from the gateway (the JetStream object store behind it), SHA-256,
 * unpack into an emptyDir. Results: bench-results/packages.json (medians and ratios to inline).
 *   npx tsx test/bench/packages.bench.ts
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { CreateFunctionCommand } from '@aws-sdk/client-lambda';
import { buildZip } from '../support/zip-craft.js';
import {
  createAccessKey,
  fnManifest,
  forwardGateway,
  lambdaClient,
  serviceAccountToken,
  waitReady,
} from '../e2e/support/gateway.js';
import { apply, cluster, createNamespace, kubectl, waitFor } from '../e2e/support/kube.js';

const RUNS = Number(process.env.SLUICE_BENCH_COLD_RUNS ?? 7);
const MEMORY_MB = 512;
const HANDLER = 'exports.handler = async (event) => ({ ok: true, n: event.n });';
const FUNCTIONS = [
  { name: 'inline', bytes: 0 },
  { name: 'pkg-1mb', bytes: 1 << 20 },
  { name: 'pkg-30mb', bytes: 30 << 20 },
] as const;

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const round = (x: number): number => Math.round(x * 10) / 10;

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

async function coldStart(ns: string, fn: string, gw: string, token: string): Promise<number> {
  const s = await kubectl(['-n', ns, 'scale', 'deployment', `${fn}-latest`, '--replicas=0']);
  if (s.code !== 0) throw new Error(`scale ${fn} to 0: ${s.stderr}`);
  await noPods(ns, fn);
  await new Promise((r) => setTimeout(r, 1500)); // the gateways' endpoint watches see the pod go
  const t0 = performance.now();
  const res = await fetch(`${gw}/2015-03-31/functions/${ns}:function:${fn}/invocations`, {
    method: 'POST',
    body: '{"n":1}',
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(120_000),
  });
  const body = await res.text();
  const took = performance.now() - t0;
  if (res.status !== 200 || res.headers.get('x-amz-function-error'))
    throw new Error(`cold call to ${fn}: HTTP ${res.status} ${body}`);
  return took;
}

const ns = await createNamespace('bench-pkg');
const gw = await forwardGateway();
const key = await createAccessKey(`serviceaccount:${ns.name}:bench`);
const results: Record<string, unknown> = { date: new Date().toISOString(), cpus: cpus().length };
try {
  await apply({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'bench-edit', namespace: ns.name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
    subjects: [{ kind: 'ServiceAccount', name: 'bench', namespace: ns.name }],
  });
  await apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'bench', namespace: ns.name } });
  const lambda = lambdaClient(gw.base, key);
  const scaling = { minReplicas: 0, maxReplicas: 1, concurrencyPerPod: 1 };
  const sizes: Record<string, number> = {};
  for (const f of FUNCTIONS) {
    if (f.bytes === 0) {
      await apply(
        fnManifest(ns.name, f.name, {
          code: { inline: HANDLER },
          memoryMB: MEMORY_MB,
          timeoutSeconds: 60,
          scaling,
        }),
      );
      continue;
    }
    const zip = await buildZip([
      { name: 'index.js', data: HANDLER },
      { name: 'filler.bin', data: randomBytes(f.bytes), compress: false },
    ]);
    sizes[f.name] = zip.length;
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: `${ns.name}:function:${f.name}`,
        Runtime: 'nodejs22.x',
        Handler: 'index.handler',
        Role: `arn:aws:iam::${ns.name}:role/default`,
        MemorySize: MEMORY_MB,
        Timeout: 60,
        Code: { ZipFile: zip },
      }),
    );
    // Same scaling as the inline one (CreateFunction leaves scaling to its defaults).
    const p = await kubectl([
      '-n',
      ns.name,
      'patch',
      'fn',
      f.name,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { scaling } }),
    ]);
    if (p.code !== 0) throw new Error(p.stderr);
  }
  for (const f of FUNCTIONS) await waitReady(ns.name, f.name);
  const token = await serviceAccountToken(ns.name, 'default');
  const runs = new Map<string, number[]>(FUNCTIONS.map((f) => [f.name, []]));
  // One warm-up start each (image layers, first download), not counted.
  for (const f of FUNCTIONS) await coldStart(ns.name, f.name, gw.base, token);
  for (let i = 0; i < RUNS; i++) {
    for (const f of FUNCTIONS) {
      const took = await coldStart(ns.name, f.name, gw.base, token);
      runs.get(f.name)?.push(took);
      console.log(`cold start ${f.name} ${i + 1}/${RUNS}: ${took.toFixed(0)} ms`);
    }
  }
  const median = (n: string): number => round(percentile(runs.get(n) ?? [], 50));
  const base = median('inline');
  results.setup = {
    memoryMB: MEMORY_MB,
    runs: RUNS,
    zipBytes: sizes,
    note: 'Deployment scaled to 0, no pod left (+1.5 s) → first 200 through the gateway (loopback forwarder); interleaved rounds after one uncounted start each',
  };
  results.coldStartMs = Object.fromEntries(
    FUNCTIONS.map((f) => [f.name, { median: median(f.name), all: (runs.get(f.name) ?? []).map(round) }]),
  );
  results.vsInline = {
    'pkg-1mb': {
      addedMs: round(median('pkg-1mb') - base),
      ratio: round((median('pkg-1mb') / base) * 100) / 100,
    },
    'pkg-30mb': {
      addedMs: round(median('pkg-30mb') - base),
      ratio: round((median('pkg-30mb') / base) * 100) / 100,
    },
  };
} finally {
  await key.remove();
  await gw.stop();
  await ns.remove();
}
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/packages.json', `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
