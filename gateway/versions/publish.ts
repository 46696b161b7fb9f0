import { specHash } from '../../api/hash.js';
import { planPublish } from '../../api/versions.js';
import type { FunctionResource, FunctionVersionResource } from '../../api/types.js';
import { SluiceError } from '../../lib/index.js';
import type { Principal } from '../auth/principal.js';
import { PreconditionFailedError, ResourceConflictError } from '../errors.js';
import { lambdaCodeSha256 } from '../management/mapping.js';

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

/**
 * PublishVersion (lambda.md §4) with Lambda's preconditions; the publishing itself is
 * api/versions.ts `planPublish`, shared with the controller's autoPublish: unchanged code and
 * configuration return the latest version; a number taken by a concurrent publisher moves to the next.
 */
export async function publishVersion(
  store: VersionStore,
  fn: FunctionResource,
  input: PublishInput,
): Promise<{ version: FunctionVersionResource; created: boolean }> {
  const namespace = fn.metadata.namespace ?? 'default';
  const name = fn.metadata.name ?? '';
  const hash = specHash(fn.spec);
  // GetFunction reports a zip package's CodeSha256 as Lambda does (base64 of the zip's SHA-256).
  if (
    input.codeSha256 !== undefined &&
    input.codeSha256 !== hash &&
    input.codeSha256 !== lambdaCodeSha256(fn.spec)
  ) {
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
    const plan = planPublish(fn, await store.list(namespace, name), input.description);
    if ('existing' in plan) return { version: plan.existing, created: false };
    try {
      return { version: await store.create(plan.create), created: true };
    } catch (err) {
      if (!(err instanceof VersionExistsError)) throw err;
    }
  }
  throw new ResourceConflictError(
    `Version numbers of ${namespace}/${name} kept being taken by concurrent publishers; retry`,
  );
}
