import { LABELS } from '../../api/naming.js';
import { API_VERSION } from '../../api/schema.js';
import type { FunctionResource, FunctionVersionResource } from '../../api/types.js';
import { planPublish, versionNumber } from '../../api/versions.js';
import { isAlreadyExists, type Kube } from '../kube/client.js';

export { ownerRef, versionNumber } from '../../api/versions.js';

/**
 * The FunctionVersions of one function, highest first: those labelled `sluice.dev/function`
 * (publishing sets it), and legacy ones without the label, found by `spec.function` and labelled
 * by a patch on the way (the next reconcile finds them by the label alone).
 */
export async function listVersions(
  kube: Kube,
  namespace: string,
  fn: string,
): Promise<FunctionVersionResource[]> {
  const labelled = await kube.list<FunctionVersionResource>(
    API_VERSION,
    'FunctionVersion',
    namespace,
    `${LABELS.function}=${fn}`,
  );
  const legacy = (
    await kube.list<FunctionVersionResource>(API_VERSION, 'FunctionVersion', namespace, `!${LABELS.function}`)
  ).filter((v) => v.spec.function === fn);
  // Best effort: a version an admission policy would no longer admit unchanged (its peers, say)
  // keeps being found by spec.function.
  for (const v of legacy) await kube.label(v, { [LABELS.function]: fn }).catch(() => undefined);
  // A label edited to name another function does not move a version: spec.function is immutable.
  return [...labelled.filter((v) => v.spec.function === fn), ...legacy].sort(
    (a, b) => versionNumber(b) - versionNumber(a),
  );
}

export interface PublishResult {
  version: FunctionVersionResource;
  created: boolean;
}

/**
 * Publishes $LATEST as the next version (api/versions.ts `planPublish`): unchanged code and
 * configuration return the latest version; a number taken by a concurrent publisher moves to the next.
 */
export async function publishVersion(
  kube: Kube,
  fn: FunctionResource,
  description?: string,
): Promise<PublishResult> {
  const namespace = fn.metadata.namespace ?? 'default';
  const name = fn.metadata.name ?? '';
  // Unchanged code and configuration are decided from the cache; a new number from the API
  // server itself, so a version the cache has not seen yet is not published twice.
  const cached = planPublish(fn, await listVersions(kube, namespace, name), description);
  if ('existing' in cached) return { version: cached.existing, created: false };
  const live = kube.live ?? kube;
  for (let attempt = 0; attempt < 5; attempt++) {
    const plan = planPublish(fn, await listVersions(live, namespace, name), description);
    if ('existing' in plan) return { version: plan.existing, created: false };
    try {
      return { version: await kube.create(plan.create), created: true };
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }
  throw new Error(
    `publishing ${fn.metadata.namespace}/${fn.metadata.name}: version numbers kept being taken by concurrent publishers`,
  );
}
