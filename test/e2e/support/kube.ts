import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { KubeConfig, CoreV1Api, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { clusterEnv } from './env.js';
import { ROOT } from '../../../api/paths.js';
import { budget } from '../../support/time.js';

const run = promisify(execFile);

export interface Cluster {
  env: Record<string, string>;
  kc: KubeConfig;
  core: CoreV1Api;
  objects: KubernetesObjectApi;
}

let cached: Cluster | undefined;

export function cluster(): Cluster {
  if (cached) return cached;
  const env = clusterEnv();
  const kc = new KubeConfig();
  if (!env.KUBECONFIG) throw new Error('.cluster/env does not export KUBECONFIG');
  kc.loadFromFile(env.KUBECONFIG);
  cached = { env, kc, core: kc.makeApiClient(CoreV1Api), objects: KubernetesObjectApi.makeApiClient(kc) };
  return cached;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs kubectl against the local cluster; never throws on a non-zero exit. */
export async function kubectl(args: string[], input?: string): Promise<RunResult> {
  const { env } = cluster();
  const bin = env.KUBECTL ?? 'kubectl';
  return new Promise((resolve) => {
    const child = execFile(
      bin,
      args,
      { env: { ...process.env, KUBECONFIG: env.KUBECONFIG }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 1
          : 0;
        resolve({ stdout: String(stdout), stderr: String(stderr), code });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Runs a repo script (e.g. test/cluster/forward.sh). */
export async function script(path: string, args: string[]): Promise<string> {
  const { stdout } = await run(`${ROOT}/${path}`, args, { cwd: ROOT, maxBuffer: 16 << 20 });
  return stdout;
}

/**
 * Polls until `fn` returns a value (not undefined), or fails naming what it waited for. The
 * timeout is scaled by SLUICE_TEST_TIME_SCALE (test/support/time.ts).
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 120_000,
  intervalMs = 500,
): Promise<T> {
  const limit = budget(timeoutMs);
  const deadline = Date.now() + limit;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${limit} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A unique namespace for one test file; removed by the returned function. */
export async function createNamespace(
  prefix: string,
): Promise<{ name: string; remove: () => Promise<void> }> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await cluster().core.createNamespace({
    body: { metadata: { name, labels: { 'sluice.dev/e2e': 'true' } } },
  });
  return {
    name,
    remove: async () => {
      await kubectl(['delete', 'namespace', name, '--wait=false', '--ignore-not-found']);
    },
  };
}

/** Prints what a reader of a failed run needs: events, pods, describe and logs of a namespace. */
export async function dumpNamespace(ns: string): Promise<void> {
  const parts = await Promise.all([
    kubectl(['-n', ns, 'get', 'fn,fnv,alias,esm,deploy,pods,svc,cm,netpol', '-o', 'wide']),
    kubectl(['-n', ns, 'get', 'events', '--sort-by=.lastTimestamp']),
    kubectl(['-n', ns, 'describe', 'pods']),
    kubectl([
      '-n',
      ns,
      'logs',
      '-l',
      'app.kubernetes.io/component=function',
      '--all-containers',
      '--tail=100',
      '--prefix',
    ]),
    kubectl([
      '-n',
      'sluice-system',
      'logs',
      '-l',
      'app.kubernetes.io/part-of=sluice',
      '--all-containers',
      '--tail=100',
      '--prefix',
    ]),
  ]);
  console.log(`----- dump of namespace ${ns} -----\n${parts.map((p) => p.stdout + p.stderr).join('\n')}`);
}

/** Applies an object (server-side apply) and returns what the API server stored. */
export async function apply<T extends KubernetesObject>(obj: T): Promise<T> {
  return cluster().objects.patch(
    obj,
    undefined,
    undefined,
    'sluice-e2e',
    true,
    'application/apply-patch+yaml',
  );
}

/** A forward from host loopback to an address inside the cluster (pod IP:port, svc/NS/NAME:PORT). */
export async function forward(target: string): Promise<{ base: string; stop: () => Promise<void> }> {
  const name = `e2e-${randomBytes(4).toString('hex')}`;
  const out = (await script('test/cluster/forward.sh', [name, '0', target])).trim().split('\n').pop() ?? '';
  const base = out.startsWith('http') ? out : `http://${out}`;
  return {
    base,
    stop: async () => void (await script('test/cluster/forward.sh', ['--stop', name]).catch(() => '')),
  };
}
