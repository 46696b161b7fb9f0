import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import { ROOT } from '../../api/paths.js';

export const CHART = join(ROOT, 'charts/sluice');

/** helm: $HELM, else the one the build caches (test/cluster/build.sh, `make tools`). Never skipped. */
export function findHelm(): string {
  if (process.env.HELM && existsSync(process.env.HELM)) return process.env.HELM;
  const bin = join(homedir(), '.cache/sluice/bin');
  const cached = existsSync(bin)
    ? readdirSync(bin)
        .filter((d) => d.startsWith('helm-') && existsSync(join(bin, d, 'helm')))
        .sort()
        .reverse()
    : [];
  if (cached[0]) return join(bin, cached[0], 'helm');
  throw new Error(
    `helm not found: set $HELM or build it with \`make tools\` (test/cluster/build.sh caches it under ${bin}/helm-*/helm)`,
  );
}

/**
 * The chart rendered as release `sluice` in `namespace` (helm template), as objects the client can
 * send as they are (loadAllYaml keeps keys like x-kubernetes-* that a plain parse would lose).
 */
export function renderChart(
  values: string[] = [],
  opts: { namespace?: string; showOnly?: string[] } = {},
): KubernetesObject[] {
  const args = ['template', 'sluice', CHART, '--namespace', opts.namespace ?? 'sluice-system'];
  for (const v of values) args.push('--set', v);
  for (const t of opts.showOnly ?? []) args.push('--show-only', t);
  const r = spawnSync(findHelm(), args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return (loadAllYaml(r.stdout) as (KubernetesObject | null)[]).filter(
    (o): o is KubernetesObject => o !== null,
  );
}
