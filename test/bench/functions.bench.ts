/**
 * Functions benchmark (make bench):
 *  1. The runtime's own overhead per warm invocation: the same handler called in-process vs
 *     through sluice-runtime (HTTP invoke endpoint → Runtime API → handler's process), side by
 *     side in one run.
 *  2. On the real local cluster (skipped with a note when SLUICE_BENCH_CLUSTER=0): time from
 *     applying a Function to Ready, and from its pod's creation to the first successful
 *     invocation (the platform's part of a cold start); median of 10.
 * Results: bench-results/functions.json.
 *   npx tsx test/bench/functions.bench.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { buildRuntime, startRuntime } from '../integration/runtime-harness.js';
import { apply, cluster, createNamespace, forward, kubectl, waitFor } from '../e2e/support/kube.js';
import type { FunctionResource } from '../../api/types.js';
import { INVOKE_TOKEN_HEADER } from '../../api/invoke-token.js';
import { invokeTokenOf } from '../e2e/support/pod.js';

const WARM_CALLS = Number(process.env.SLUICE_BENCH_WARM_CALLS ?? 2000);
const COLD_RUNS = Number(process.env.SLUICE_BENCH_COLD_RUNS ?? 10);
const HANDLER = 'exports.handler = async (event) => ({ ok: true, n: event.n });';

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;
const round = (x: number): number => Math.round(x * 1000) / 1000;

async function warmOverhead(): Promise<Record<string, number>> {
  buildRuntime();
  const rt = await startRuntime({
    files: { 'index.js': HANDLER },
    memoryMB: 512,
    timeoutSeconds: 10,
    env: { SLUICE_FREEZE_IDLE: 'false' },
  });
  try {
    // The same handler as HANDLER's source, called in-process.
    const handler = (event: { n: number }): Promise<{ ok: boolean; n: number }> =>
      Promise.resolve({ ok: true, n: event.n });
    for (let i = 0; i < 200; i++) {
      await handler({ n: i });
      await rt.invoke({ n: i });
    }
    const inProcess: number[] = [];
    const viaRuntime: number[] = [];
    // Interleaved, so machine noise hits both alike.
    for (let i = 0; i < WARM_CALLS; i++) {
      let t0 = process.hrtime.bigint();
      await handler({ n: i });
      inProcess.push(ms(t0));
      t0 = process.hrtime.bigint();
      const r = await rt.invoke({ n: i });
      viaRuntime.push(ms(t0));
      if (r.status !== 200) throw new Error(`invoke failed: ${r.status} ${r.text}`);
    }
    const p50 = percentile(viaRuntime, 50);
    return {
      calls: WARM_CALLS,
      inProcessP50Ms: round(percentile(inProcess, 50)),
      runtimeP50Ms: round(p50),
      runtimeP99Ms: round(percentile(viaRuntime, 99)),
      overheadP50Ms: round(p50 - percentile(inProcess, 50)),
    };
  } finally {
    rt.child.kill('SIGTERM');
    await rt.exited;
  }
}

async function clusterColdStarts(): Promise<Record<string, number | string>> {
  const { core } = cluster();
  const ns = await createNamespace('bench-fn');
  const applyToReady: number[] = [];
  const podToFirstCall: number[] = [];
  try {
    for (let i = 0; i < COLD_RUNS; i++) {
      const name = `cold-${i}`;
      const fn: FunctionResource = {
        apiVersion: 'sluice.dev/v1alpha1',
        kind: 'Function',
        metadata: { name, namespace: ns.name },
        spec: { runtime: 'nodejs22', code: { inline: HANDLER }, memoryMB: 512, scaling: { minReplicas: 1 } },
      };
      const t0 = Date.now();
      await apply(fn);
      const pod = await waitFor(
        `a pod of ${name}`,
        async () => {
          const l = await core.listNamespacedPod({
            namespace: ns.name,
            labelSelector: `sluice.dev/function=${name}`,
          });
          return l.items[0];
        },
        60_000,
        50,
      );
      const podSeen = Date.now();
      const ip = await waitFor(
        `pod IP of ${name}`,
        async () => {
          const p = await core.readNamespacedPod({ namespace: ns.name, name: pod.metadata?.name ?? '' });
          return p.status?.podIP;
        },
        60_000,
        50,
      );
      const fwd = await forward(`${ip}:8080`);
      // The function's invoke token, as the gateway sends it (the controller wrote it before the pod).
      const token = await invokeTokenOf(ns.name, name);
      try {
        await waitFor(
          `first successful invocation of ${name}`,
          async () => {
            const r = await fetch(`${fwd.base}/2015-03-31/functions/function/invocations`, {
              method: 'POST',
              body: '{"n":1}',
              headers: { [INVOKE_TOKEN_HEADER]: token },
            }).catch(() => undefined);
            return r?.status === 200 && !r.headers.get('x-amz-function-error') ? true : undefined;
          },
          60_000,
          20,
        );
        podToFirstCall.push(Date.now() - podSeen);
        await waitFor(
          `${name} Ready`,
          async () => {
            const r = await kubectl([
              '-n',
              ns.name,
              'get',
              'fn',
              name,
              '-o',
              'jsonpath={.status.conditions[?(@.type=="Ready")].reason}',
            ]);
            return r.stdout === 'Running' ? true : undefined;
          },
          60_000,
          100,
        );
        applyToReady.push(Date.now() - t0);
      } finally {
        await fwd.stop();
      }
      await kubectl(['-n', ns.name, 'delete', 'fn', name, '--wait=false']);
    }
  } finally {
    await ns.remove();
  }
  return {
    runs: COLD_RUNS,
    memoryMB: 512,
    applyToReadyMedianMs: percentile(applyToReady, 50),
    podCreatedToFirstInvocationMedianMs: percentile(podToFirstCall, 50),
    note: 'Ready is observed by polling status every 100 ms; the first call is retried every 20 ms through a loopback forward',
  };
}

const results: Record<string, unknown> = { date: new Date().toISOString(), cpus: cpus().length };
results.warm = await warmOverhead();
console.log('warm invocation:', results.warm);
if (process.env.SLUICE_BENCH_CLUSTER !== '0') {
  results.cluster = await clusterColdStarts();
  console.log('cluster:', results.cluster);
} else {
  results.cluster = 'not measured (SLUICE_BENCH_CLUSTER=0)';
}
const out = path.join(new URL('../..', import.meta.url).pathname, 'bench-results', 'functions.json');
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
console.log(`wrote ${out}`);
process.exit(0);
