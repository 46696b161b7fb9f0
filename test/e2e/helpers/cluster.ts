/**
 * Access to the local cluster from e2e tests: `.cluster/env` (written by test/cluster/up.sh) and
 * `.cluster/images.env` (test/cluster/images.sh), kubectl from the binary cache, a
 * @kubernetes/client-node KubeConfig, loopback forwards into the cluster, and polling.
 *
 * Missing files are errors, never skips: run `make cluster-up images` (or `make test-e2e`).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { budget } from '../../support/time.js';

export const REPO = new URL('../../..', import.meta.url).pathname.replace(/\/$/, '');

/** Parses `export KEY=VALUE` lines; lines using shell expansion are skipped. */
export function parseEnvFile(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^export ([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m || m[2]!.includes('$')) continue;
    out[m[1]!] = m[2]!.replace(/^["']|["']$/g, '');
  }
  return out;
}

export interface ClusterEnv {
  dir: string;
  kubeconfig: string;
  kubectl: string;
  node: string;
  /** SLUICE_IMAGE_* from .cluster/images.env, e.g. images.TESTBOX */
  images: Record<string, string>;
  vars: Record<string, string>;
}

let cached: ClusterEnv | undefined;

/** The running cluster's settings; throws (fails the suite) when the cluster is missing. */
export function clusterEnv(): ClusterEnv {
  if (cached) return cached;
  const dir = process.env.SLUICE_CLUSTER_DIR ?? join(REPO, '.cluster');
  const envFile = join(dir, 'env');
  if (!existsSync(envFile))
    throw new Error(`${envFile} is missing: the local cluster is not up (run make cluster-up images)`);
  const vars = parseEnvFile(envFile);
  const imagesFile = join(dir, 'images.env');
  if (!existsSync(imagesFile))
    throw new Error(`${imagesFile} is missing: run make images (test/cluster/images.sh)`);
  Object.assign(vars, parseEnvFile(imagesFile));
  const images: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars))
    if (k.startsWith('SLUICE_IMAGE_')) images[k.slice('SLUICE_IMAGE_'.length)] = v;
  const kubeconfig = vars.KUBECONFIG;
  const kubectlBin = vars.KUBECTL;
  if (!kubeconfig || !kubectlBin) throw new Error(`${envFile} lacks KUBECONFIG or KUBECTL`);
  cached = { dir, kubeconfig, kubectl: kubectlBin, node: vars.SLUICE_CLUSTER_NODE ?? '', images, vars };
  return cached;
}

export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(clusterEnv().kubeconfig);
  return kc;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl against the local cluster; never throws (check `code`). */
export function kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}): RunResult {
  const env = clusterEnv();
  const r = spawnSync(env.kubectl, ['--kubeconfig', env.kubeconfig, ...args], {
    input: opts.input,
    encoding: 'utf8',
    timeout: budget(opts.timeoutMs ?? 60_000),
  });
  return {
    code: r.status ?? -1,
    stdout: r.stdout ?? '',
    stderr: (r.stderr ?? '') + (r.error ? String(r.error) : ''),
  };
}

/** kubectl that throws with its output on failure. */
export function kubectlOk(args: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
  const r = kubectl(args, opts);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Polls `fn` until it returns without throwing; rethrows the last error after `timeoutMs` (scaled: test/support/time.ts). */
export async function eventually<T>(
  fn: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + budget(opts.timeoutMs ?? 60_000);
  let last: unknown;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw last;
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 500));
  }
}

/**
 * Forwards an address inside the cluster to host loopback (test/cluster/forward.sh).
 * target: IP:PORT or svc/NAMESPACE/NAME:PORT. Returns the base URL http://127.0.0.1:PORT.
 */
export function forward(name: string, target: string): { url: string; stop: () => void } {
  const script = join(REPO, 'test/cluster/forward.sh');
  const hostPort = execFileSync(script, [name, '0', target], { encoding: 'utf8' }).trim();
  return {
    url: `http://${hostPort}`,
    stop: () => execFileSync(script, ['--stop', name]),
  };
}

/** A test namespace name, unique per run. */
export function testNamespace(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e4)}`;
}
