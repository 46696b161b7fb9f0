import type { V1OwnerReference } from '@kubernetes/client-node';
import { specHash } from '../../api/hash.js';
import { LABELS, MANAGED_BY, functionArn, functionVersionName } from '../../api/naming.js';
import { API_VERSION } from '../../api/schema.js';
import type { FunctionResource, FunctionVersionResource } from '../../api/types.js';
import { SluiceError } from '../../lib/index.js';
import type { Principal } from '../auth/principal.js';
import { PreconditionFailedError, ResourceConflictError } from '../errors.js';

/** A version number another publisher took first. */
export class VersionExistsError extends SluiceError {
  override readonly name = 'VersionExistsError';
}

/** Reads and creates FunctionVersion objects (the API server in kube-versions.ts; a map in tests). */
export interface VersionStore {
  /** The versions of one function, read fresh (not from a cache), in any order. */
  list(namespace: string, fn: string): Promise<FunctionVersionResource[]>;
  /** Creates the object; throws VersionExistsError when the name is taken. */
  create(v: FunctionVersionResource): Promise<FunctionVersionResource>;
}

/** Who may publish: Kubernetes RBAC (`create functionversions` in the namespace) in kube-versions.ts. */
export interface PublishAuthorizer {
  canPublish(principal: Principal, namespace: string): Promise<boolean>;
}

export interface PublishInput {
  description?: string;
  /** Lambda's CodeSha256 precondition: the hash $LATEST must have. */
  codeSha256?: string;
  /** Lambda's RevisionId precondition: the Function's resourceVersion. */
  revisionId?: string;
}

const number = (v: FunctionVersionResource): number => Number(v.spec.version) || 0;

function ownerRef(fn: FunctionResource): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: 'Function',
    name: fn.metadata.name ?? '',
    uid: fn.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/**
 * PublishVersion (lambda.md §4): snapshot $LATEST as the next number; when its hash (api/hash.ts
 * `specHash`, shared with the controller's autoPublish) equals the latest version's, return that
 * version and create nothing. A number taken by a concurrent publisher moves to the next one.
 */
export async function publishVersion(
  store: VersionStore,
  fn: FunctionResource,
  input: PublishInput,
): Promise<{ version: FunctionVersionResource; created: boolean }> {
  const namespace = fn.metadata.namespace ?? 'default';
  const name = fn.metadata.name ?? '';
  const hash = specHash(fn.spec);
  if (input.codeSha256 !== undefined && input.codeSha256 !== hash) {
    throw new PreconditionFailedError(
      `CodeSha256 ${input.codeSha256} does not match the function's current code and configuration (${hash})`,
    );
  }
  if (input.revisionId !== undefined && input.revisionId !== fn.metadata.resourceVersion) {
    throw new PreconditionFailedError(
      'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
    );
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const versions = (await store.list(namespace, name)).sort((a, b) => number(b) - number(a));
    const latest = versions[0];
    if (latest && (latest.spec.codeSha256 ?? specHash(latest.spec.snapshot)) === hash) {
      return { version: latest, created: false };
    }
    const next = String((latest ? number(latest) : 0) + 1);
    const { versioning: _versioning, ...snapshot } = fn.spec;
    try {
      const version = await store.create({
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
          ...(input.description ? { description: input.description } : {}),
        },
      });
      return { version, created: true };
    } catch (err) {
      if (!(err instanceof VersionExistsError)) throw err;
    }
  }
  throw new ResourceConflictError(
    `Version numbers of ${namespace}/${name} kept being taken by concurrent publishers; retry`,
  );
}

/** Lambda's FunctionConfiguration for a published version (what PublishVersion returns). */
export function functionConfiguration(
  region: string,
  fn: FunctionResource,
  v: FunctionVersionResource,
): Record<string, unknown> {
  const s = v.spec.snapshot;
  const ns = fn.metadata.namespace ?? 'default';
  return {
    FunctionName: v.spec.function,
    FunctionArn: functionArn(region, ns, v.spec.function, v.spec.version),
    Version: v.spec.version,
    Description: v.spec.description ?? '',
    CodeSha256: v.spec.codeSha256 ?? specHash(s),
    Runtime: s.runtime,
    Handler: s.handler ?? 'index.handler',
    MemorySize: s.memoryMB ?? 128,
    Timeout: s.timeoutSeconds ?? 3,
    EphemeralStorage: { Size: s.ephemeralStorageMB ?? 512 },
    Environment: { Variables: s.environment ?? {} },
    PackageType: s.code.image && s.runtime === 'provided' ? 'Image' : 'Zip',
    State: 'Active',
    LastUpdateStatus: 'Successful',
    LastModified: new Date(
      (v.metadata.creationTimestamp as Date | string | undefined) ?? Date.now(),
    ).toISOString(),
    RevisionId: v.metadata.resourceVersion ?? '',
  };
}
