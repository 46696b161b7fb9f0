import type { V1OwnerReference } from '@kubernetes/client-node';
import { specHash } from './hash.js';
import { LABELS, MANAGED_BY, functionVersionName } from './naming.js';
import { API_VERSION } from './schema.js';
import type { FunctionResource, FunctionVersionResource } from './types.js';

/**
 * Publishing, as one pure step shared by the controller (autoPublish) and the gateway
 * (PublishVersion): each caller lists the versions, plans, and creates — retrying the plan when a
 * concurrent publisher took the number.
 */
export function versionNumber(v: FunctionVersionResource): number {
  return Number(v.spec.version) || 0;
}

/** The owner reference every object of a function carries (deleting the Function removes them). */
export function ownerRef(fn: FunctionResource): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: 'Function',
    name: fn.metadata.name ?? '',
    uid: fn.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export type PublishPlan = { existing: FunctionVersionResource } | { create: FunctionVersionResource };

/**
 * What publishing $LATEST means given the function's versions (any order): the latest version
 * when its code and configuration hash equals $LATEST's (nothing changed, as Lambda answers), else
 * the next numbered FunctionVersion to create.
 */
export function planPublish(
  fn: FunctionResource,
  versions: FunctionVersionResource[],
  description?: string,
): PublishPlan {
  const namespace = fn.metadata.namespace ?? 'default';
  const name = fn.metadata.name ?? '';
  const hash = specHash(fn.spec);
  const latest = [...versions].sort((a, b) => versionNumber(b) - versionNumber(a))[0];
  if (latest && (latest.spec.codeSha256 ?? specHash(latest.spec.snapshot)) === hash)
    return { existing: latest };
  const next = String((latest ? versionNumber(latest) : 0) + 1);
  const { versioning: _versioning, ...snapshot } = fn.spec;
  return {
    create: {
      apiVersion: API_VERSION,
      kind: 'FunctionVersion',
      metadata: {
        name: functionVersionName(name, next),
        namespace,
        labels: { [LABELS.function]: name, [LABELS.managedBy]: MANAGED_BY },
        ownerReferences: [ownerRef(fn)],
      },
      spec: {
        function: name,
        version: next,
        codeSha256: hash,
        snapshot,
        ...(description ? { description } : {}),
      },
    },
  };
}
