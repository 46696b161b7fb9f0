/**
 * Before the e2e suite: the cluster must answer (fail, never skip, when it does not), the CRDs
 * are applied, and the chart is installed with the images just built (content-hash tags, so a
 * changed image always rolls out).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../../api/paths.js';
import { clusterEnv, imageRef } from './support/env.js';

export default function setup(): void {
  const env = clusterEnv();
  const run = (bin: string, args: string[]): string =>
    execFileSync(bin, args, {
      env: { ...process.env, KUBECONFIG: env.KUBECONFIG },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 300_000,
    });
  const kubectl = env.KUBECTL ?? 'kubectl';
  const helm = env.HELM ?? 'helm';
  try {
    run(kubectl, ['get', '--raw', '/readyz']);
  } catch (err) {
    throw new Error(
      `the local cluster does not answer (KUBECONFIG=${env.KUBECONFIG}); run \`make cluster-up\`: ${String(err)}`,
    );
  }
  run(kubectl, ['apply', '--server-side', '--force-conflicts', '-f', join(ROOT, 'charts/sluice/crds')]);
  run(kubectl, [
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    '-f',
    join(ROOT, 'charts/sluice/crds'),
  ]);
  const platform = imageRef(env, 'platform');
  const node22 = imageRef(env, 'runtime-nodejs22');
  const node24 = imageRef(env, 'runtime-nodejs24');
  const [platformRepo, platformTag] = platform.split(/:(?=[^:/]+$)/);
  process.stdout.write(`e2e: installing the chart with ${platform}, ${node22}, ${node24}\n`);
  run(helm, [
    'upgrade',
    '--install',
    'sluice',
    join(ROOT, 'charts/sluice'),
    '--namespace',
    'sluice-system',
    '--create-namespace',
    '--set',
    `image.repository=${platformRepo}`,
    '--set',
    `image.tag=${platformTag ?? 'dev'}`,
    '--set',
    `runtimeImages.nodejs22=${node22}`,
    '--set',
    `runtimeImages.nodejs24=${node24}`,
    '--wait',
    '--timeout',
    '180s',
  ]);
}
