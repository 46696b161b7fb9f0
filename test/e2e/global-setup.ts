/**
 * Before the e2e suite: the cluster must answer (fail, never skip, when it does not); then
 * test/install.sh applies the CRDs and installs the chart with the images just built.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../../api/paths.js';
import { clusterEnv } from './support/env.js';

export default function setup(): void {
  const env = clusterEnv();
  const opts = { env: { ...process.env, ...env }, encoding: 'utf8' as const, timeout: 300_000 };
  try {
    execFileSync(env.KUBECTL ?? 'kubectl', ['get', '--raw', '/readyz'], { ...opts, stdio: 'pipe' });
  } catch (err) {
    throw new Error(
      `the local cluster does not answer (KUBECONFIG=${env.KUBECONFIG}); run \`make cluster-up\`: ${String(err)}`,
    );
  }
  execFileSync(join(ROOT, 'test/install.sh'), [], { ...opts, stdio: ['ignore', 'inherit', 'inherit'] });
}
