/**
 * Running Helm and test/install.sh from e2e tests with the cluster's environment (KUBECONFIG, HELM,
 * image refs), waiting out another Helm operation that holds the release.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../../../api/paths.js';
import { budget } from '../../support/time.js';
import { cluster } from './kube.js';

export interface Run {
  code: number;
  out: string;
}

/** Runs a command with the cluster's environment (KUBECONFIG, HELM, images); never throws. */
export function sh(bin: string, args: string[], timeoutMs = 280_000): Promise<Run> {
  const { env } = cluster();
  return new Promise((resolve) => {
    execFile(
      bin,
      args,
      { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 64 << 20, timeout: budget(timeoutMs) },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, out: `${String(stdout)}${String(stderr)}` });
      },
    );
  });
}

/** Runs `run` again while another Helm operation holds the release (up to 2 minutes, scaled). */
export async function unlocked(run: () => Promise<Run>): Promise<Run> {
  const deadline = Date.now() + budget(120_000);
  for (;;) {
    const r = await run();
    if (r.code === 0 || !/another operation .* is in progress/.test(r.out) || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 3000));
  }
}

export const helm = (args: string[]): Promise<Run> => unlocked(() => sh(cluster().env.HELM ?? 'helm', args));

/**
 * test/install.sh: CRDs + the chart with the built images, waiting for every component. Extra
 * Helm arguments (e.g. `--set k=v`) change the install; without them it is the normal one.
 */
export async function reinstall(extra: string[] = []): Promise<void> {
  const r = await unlocked(() => sh(join(ROOT, 'test/install.sh'), extra));
  if (r.code !== 0) throw new Error(`test/install.sh failed (${r.code}):\n${r.out}`);
}
