import { API_VERSION } from '../../api/schema.js';
import { LATEST } from '../../api/naming.js';
import { canonicalJson } from '../../api/hash.js';
import type { AliasResource, AliasStatus, FunctionResource } from '../../api/types.js';
import type { Logger } from '../../lib/log.js';
import type { Kube } from '../kube/client.js';
import { setCondition } from '../../lib/kube/conditions.js';
import { listVersions } from '../function/publish.js';

/** "3=90%,4=10%": how an alias splits traffic. */
export function routingSummary(spec: AliasResource['spec']): string {
  const extra = Object.entries(spec.additionalVersionWeights ?? {});
  const share = (w: number): string => `${Math.round(w * 1000) / 10}%`;
  const rest = 1 - extra.reduce((s, [, w]) => s + w, 0);
  return [`${spec.version}=${share(rest)}`, ...extra.map(([v, w]) => `${v}=${share(w)}`)].join(',');
}

/** An alias's status: what it resolves to, and whether every version it names exists. */
export class AliasReconciler {
  constructor(private readonly kube: Kube) {}

  async reconcile(namespace: string, name: string, _log: Logger): Promise<void> {
    const alias = await this.kube.get<AliasResource>(API_VERSION, 'Alias', namespace, name);
    if (!alias || alias.metadata.deletionTimestamp) return;
    const fn = await this.kube.get<FunctionResource>(API_VERSION, 'Function', namespace, alias.spec.function);
    const known = new Set(
      (await listVersions(this.kube, namespace, alias.spec.function)).map((v) => v.spec.version),
    );
    const named = [alias.spec.version, ...Object.keys(alias.spec.additionalVersionWeights ?? {})];
    const missing = named.filter((v) => v !== LATEST && !known.has(v));
    const gen = alias.metadata.generation;
    let conditions = alias.status?.conditions;
    if (!fn) {
      conditions = setCondition(
        conditions,
        {
          type: 'Ready',
          status: 'False',
          reason: 'FunctionNotFound',
          message: `spec.function: Function ${namespace}/${alias.spec.function} does not exist`,
        },
        gen,
      );
    } else if (missing.length) {
      conditions = setCondition(
        conditions,
        {
          type: 'Ready',
          status: 'False',
          reason: 'VersionNotFound',
          message: `version ${missing.join(', ')} of ${alias.spec.function} is not published`,
        },
        gen,
      );
    } else {
      conditions = setCondition(
        conditions,
        {
          type: 'Ready',
          status: 'True',
          reason: 'Resolved',
          message: `resolves to ${routingSummary(alias.spec)}`,
        },
        gen,
      );
    }
    const status: AliasStatus = {
      conditions,
      observedGeneration: gen,
      resolvedVersion: alias.spec.version,
      routing: routingSummary(alias.spec),
    };
    if (canonicalJson(status) === canonicalJson(alias.status ?? {})) return;
    await this.kube.patchStatus('aliases', namespace, name, status);
  }
}
