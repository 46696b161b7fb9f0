import type { V1OwnerReference } from '@kubernetes/client-node';
import { API_VERSION } from '../../api/schema.js';
import { functionVersionName, LABELS, MANAGED_BY } from '../../api/naming.js';
import { specHash } from '../../api/hash.js';
import type { FunctionResource, FunctionVersionResource } from '../../api/types.js';
import { isAlreadyExists, type Kube } from '../kube/client.js';

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

export function versionNumber(v: FunctionVersionResource): number {
  return Number(v.spec.version) || 0;
}

/** The FunctionVersions of one function, highest first. */
export async function listVersions(
  kube: Kube,
  namespace: string,
  fn: string,
): Promise<FunctionVersionResource[]> {
  const all = await kube.list<FunctionVersionResource>(API_VERSION, 'FunctionVersion', namespace);
  return all.filter((v) => v.spec.function === fn).sort((a, b) => versionNumber(b) - versionNumber(a));
}

export interface PublishResult {
  version: FunctionVersionResource;
  created: boolean;
}

/**
 * Publishes $LATEST as the next version, as Lambda's PublishVersion does: when the code and
 * configuration equal the latest published version's, that version is returned and nothing is
 * created. Numbering is race-free: a name taken by a concurrent publisher moves to the next number.
 */
export async function publishVersion(
  kube: Kube,
  fn: FunctionResource,
  description?: string,
): Promise<PublishResult> {
  const namespace = fn.metadata.namespace ?? 'default';
  const name = fn.metadata.name ?? '';
  const hash = specHash(fn.spec);
  for (let attempt = 0; attempt < 5; attempt++) {
    const versions = await listVersions(kube, namespace, name);
    const latest = versions[0];
    if (latest && latest.spec.codeSha256 === hash) return { version: latest, created: false };
    const next = String((latest ? versionNumber(latest) : 0) + 1);
    const { versioning: _v, ...snapshot } = fn.spec;
    const body: FunctionVersionResource = {
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
    };
    try {
      return { version: await kube.create(body), created: true };
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }
  throw new Error(
    `publishing ${namespace}/${name}: version numbers kept being taken by concurrent publishers`,
  );
}
