import { specHash } from '../../api/hash.js';
import { layerArn, layerVersionArn, layerVersionName, parseLayerVersionArn } from '../../api/layers.js';
import { functionArn, LATEST } from '../../api/naming.js';
import { API_VERSION, FUNCTION_NAME_PATTERN, LAYER_NAME_PATTERN, MAX_LAYERS } from '../../api/schema.js';
import type { RUNTIMES } from '../../api/schema.js';
import type {
  FunctionResource,
  FunctionSpec,
  LayerVersionResource,
  LayerVersionSpec,
} from '../../api/types.js';
import { InvalidParameterError } from '../errors.js';

/**
 * Lambda's management shapes ⇄ Sluice's CRDs, pure (no clients): the CRDs are the truth, these
 * functions only translate. Lambda's runtime names map to Sluice's; `Role`
 * `arn:aws:iam::NAMESPACE:role/SERVICEACCOUNT` is spec.executionRole.serviceAccountName.
 */

type SluiceRuntime = (typeof RUNTIMES)[number];

/** Lambda runtime name → Sluice's. */
export const RUNTIME_FROM_LAMBDA: Record<string, SluiceRuntime> = {
  'nodejs22.x': 'nodejs22',
  'nodejs24.x': 'nodejs24',
  'provided.al2023': 'provided',
  'provided.al2': 'provided',
  provided: 'provided',
};

/** Sluice runtime → the Lambda name GetFunction reports. */
export const RUNTIME_TO_LAMBDA: Record<SluiceRuntime, string> = {
  nodejs22: 'nodejs22.x',
  nodejs24: 'nodejs24.x',
  provided: 'provided.al2023',
};

export function sluiceRuntime(runtime: string): SluiceRuntime {
  const r = RUNTIME_FROM_LAMBDA[runtime];
  if (!r) {
    throw new InvalidParameterError(
      `Value ${runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [${Object.keys(RUNTIME_FROM_LAMBDA).join(', ')}] or be a valid ARN`,
    );
  }
  return r;
}

const ROLE =
  /^arn:aws[a-z-]*:iam::([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?):role\/(?:.*\/)?([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)$/;

/** `arn:aws:iam::NAMESPACE:role/SA` → the ServiceAccount; the namespace must be the function's. */
export function serviceAccountOfRole(role: string, namespace: string): string {
  const m = ROLE.exec(role);
  if (!m) {
    throw new InvalidParameterError(
      `Role ${role} is invalid: expected arn:aws:iam::NAMESPACE:role/SERVICEACCOUNT (a ServiceAccount of the function's namespace)`,
    );
  }
  if (m[1] !== namespace) {
    throw new InvalidParameterError(
      `Role ${role} names namespace ${m[1]}: a function runs as a ServiceAccount of its own namespace, ${namespace}`,
    );
  }
  return m[3] as string;
}

/**
 * The role that means "no execution role": the namespace's `default` ServiceAccount, whose token
 * a function pod does not get (as for a Function without spec.executionRole). Lambda requires a
 * Role on CreateFunction; `arn:aws:iam::NAMESPACE:role/default` is how to ask for none.
 */
export const DEFAULT_ROLE = 'default';

export function executionRoleOf(
  role: string | undefined,
  namespace: string,
): Pick<FunctionSpec, 'executionRole'> {
  if (!role) return {};
  const sa = serviceAccountOfRole(role, namespace);
  return sa === DEFAULT_ROLE ? {} : { executionRole: { serviceAccountName: sa } };
}

export function roleOf(namespace: string, serviceAccount: string): string {
  return `arn:aws:iam::${namespace}:role/${serviceAccount}`;
}

export function checkFunctionName(name: string): void {
  if (name.length > 63 || !new RegExp(FUNCTION_NAME_PATTERN).test(name)) {
    throw new InvalidParameterError(
      `Function name ${name} is invalid: Sluice function names are DNS labels (at most 63 lower-case letters, digits and "-", starting with a letter)`,
    );
  }
}

export function checkLayerName(name: string): void {
  if (!new RegExp(LAYER_NAME_PATTERN).test(name)) {
    throw new InvalidParameterError(
      `Layer name ${name} is invalid: expected 1-140 characters of [a-zA-Z0-9-_]`,
    );
  }
}

/** `Layers` of CreateFunction: at most 5 ARNs of this namespace's layer versions, one per layer. */
export function checkLayers(layers: string[], namespace: string): void {
  if (layers.length > MAX_LAYERS) {
    throw new InvalidParameterError(`Layers: a function takes at most ${MAX_LAYERS} layers`);
  }
  const names = new Set<string>();
  for (const arn of layers) {
    const ref = parseLayerVersionArn(arn);
    if (!ref) {
      throw new InvalidParameterError(
        `Layer ${arn} is invalid: expected arn:aws:lambda:REGION:NAMESPACE:layer:NAME:VERSION`,
      );
    }
    if (ref.namespace !== namespace) {
      throw new InvalidParameterError(
        `Layer ${arn} is not a layer of namespace ${namespace}: a function uses its own namespace's layers`,
      );
    }
    if (names.has(ref.layerName)) {
      throw new InvalidParameterError('Two different versions of the same layer are not allowed.');
    }
    names.add(ref.layerName);
  }
}

/** Where the code comes from after an upload or an image: the spec.code of the Function. */
export type CodeSource = { package: string } | { image: string };

/** What CreateFunction sets besides the code (already validated types). */
export interface CreateFunctionInput {
  name: string;
  runtime?: string;
  handler?: string;
  role?: string;
  description?: string;
  timeout?: number;
  memorySize?: number;
  ephemeralStorage?: number;
  environment?: Record<string, string>;
  layers?: string[];
}

/** The Function a CreateFunction call makes. */
export function functionFromCreate(
  input: CreateFunctionInput,
  namespace: string,
  code: CodeSource,
): FunctionResource {
  checkFunctionName(input.name);
  if (input.runtime === undefined && !('image' in code)) {
    throw new InvalidParameterError('Runtime is required for a function from a zip package');
  }
  const runtime = input.runtime !== undefined ? sluiceRuntime(input.runtime) : 'provided';
  if (input.layers) checkLayers(input.layers, namespace);
  const spec: FunctionSpec = {
    runtime,
    code,
    ...(input.handler !== undefined && runtime !== 'provided' ? { handler: input.handler } : {}),
    ...(input.description ? { description: input.description } : {}),
    ...(input.timeout !== undefined ? { timeoutSeconds: input.timeout } : {}),
    ...(input.memorySize !== undefined ? { memoryMB: input.memorySize } : {}),
    ...(input.ephemeralStorage !== undefined ? { ephemeralStorageMB: input.ephemeralStorage } : {}),
    ...(input.environment && Object.keys(input.environment).length ? { environment: input.environment } : {}),
    // (the generated type is a tuple of at most 5; checkLayers counted them)
    ...(input.layers?.length ? { layers: input.layers as FunctionSpec['layers'] } : {}),
    ...executionRoleOf(input.role, namespace),
  };
  return {
    apiVersion: API_VERSION,
    kind: 'Function',
    metadata: { name: input.name, namespace },
    spec,
  };
}

/** The Function with new code (UpdateFunctionCode): the rest of its spec is kept. */
export function withCode(fn: FunctionResource, code: CodeSource): FunctionResource {
  return { ...fn, spec: { ...fn.spec, code } };
}

/** Lambda's CodeSha256: base64 of the zip's SHA-256 for a package; the code-and-config hash otherwise. */
export function lambdaCodeSha256(spec: FunctionSpec): string {
  const digest = spec.code.package;
  if (digest) return Buffer.from(digest.slice('sha256:'.length), 'hex').toString('base64');
  return specHash(spec);
}

/** Lambda's FunctionConfiguration of $LATEST. */
export function functionConfigurationOf(
  region: string,
  fn: FunctionResource,
  codeSize: number,
  layerSizes: (arn: string) => number = () => 0,
): Record<string, unknown> {
  const s = fn.spec;
  return {
    ...identity(region, fn),
    CodeSize: codeSize,
    Description: s.description ?? '',
    Timeout: s.timeoutSeconds ?? 3,
    MemorySize: s.memoryMB ?? 128,
    LastModified: new Date(
      (fn.metadata.creationTimestamp as Date | string | undefined) ?? Date.now(),
    ).toISOString(),
    CodeSha256: lambdaCodeSha256(s),
    Version: LATEST,
    Environment: { Variables: s.environment ?? {} },
    EphemeralStorage: { Size: s.ephemeralStorageMB ?? 512 },
    ...(s.layers?.length ? { Layers: s.layers.map((Arn) => ({ Arn, CodeSize: layerSizes(Arn) })) } : {}),
    Architectures: ['x86_64'],
    ...stateOf(fn.metadata.generation, fn.status?.conditions),
    RevisionId: fn.metadata.resourceVersion ?? '',
  };
}

type Conditions = NonNullable<FunctionResource['status']>['conditions'];

/** Ready=False reasons that mean "still starting", not "cannot run". */
const STARTING = new Set(['Deploying', 'Pending']);

/**
 * Lambda's State and LastUpdateStatus from the controller's conditions (controller/function/
 * reconcile.ts), so `aws lambda wait function-active` and `function-updated` work:
 * State — Ready True: Active; Ready False for a reason other than starting: Failed; else Pending.
 * LastUpdateStatus — the current generation's Ready False for such a reason: Failed; its Updated
 * True (every pod of $LATEST runs the current spec): Successful; else InProgress (the controller
 * has not seen the last change yet, or the rollout runs).
 */
export function stateOf(generation: number | undefined, conditions: Conditions): Record<string, string> {
  const current = (type: string): NonNullable<Conditions>[number] | undefined => {
    const c = conditions?.find((x) => x.type === type);
    if (!c) return undefined;
    const fresh =
      generation === undefined || c.observedGeneration === undefined || c.observedGeneration >= generation;
    return fresh ? c : undefined;
  };
  const ready = conditions?.find((c) => c.type === 'Ready');
  const failed = (c: typeof ready): boolean =>
    c !== undefined && c.status === 'False' && !STARTING.has(c.reason ?? '');
  const state: Record<string, string> = !ready
    ? { State: 'Pending', StateReason: 'The function is being created.', StateReasonCode: 'Creating' }
    : ready.status === 'True'
      ? { State: 'Active' }
      : failed(ready)
        ? {
            State: 'Failed',
            StateReason: `${ready.reason ?? ''}: ${ready.message ?? ''}`,
            StateReasonCode: 'InvalidConfiguration',
          }
        : { State: 'Pending', StateReason: ready.message ?? '', StateReasonCode: 'Creating' };
  const readyNow = current('Ready');
  const update: Record<string, string> = failed(readyNow)
    ? {
        LastUpdateStatus: 'Failed',
        LastUpdateStatusReason: `${readyNow?.reason ?? ''}: ${readyNow?.message ?? ''}`,
        LastUpdateStatusReasonCode: 'InvalidConfiguration',
      }
    : current('Updated')?.status === 'True'
      ? { LastUpdateStatus: 'Successful' }
      : {
          LastUpdateStatus: 'InProgress',
          LastUpdateStatusReason: 'The function is being updated.',
          LastUpdateStatusReasonCode: 'Creating',
        };
  return { ...state, ...update };
}

/** Name, runtime, role, handler and package type of a Function in Lambda's terms. */
function identity(region: string, fn: FunctionResource): Record<string, unknown> {
  const s = fn.spec;
  const ns = fn.metadata.namespace ?? 'default';
  const name = fn.metadata.name ?? '';
  const image = s.code.image !== undefined;
  return {
    FunctionName: name,
    FunctionArn: functionArn(region, ns, name),
    ...(image && s.runtime === 'provided' ? {} : { Runtime: RUNTIME_TO_LAMBDA[s.runtime] }),
    Role: roleOf(ns, s.executionRole?.serviceAccountName ?? DEFAULT_ROLE),
    ...(s.runtime === 'provided' ? {} : { Handler: s.handler ?? 'index.handler' }),
    PackageType: image && s.runtime === 'provided' ? 'Image' : 'Zip',
  };
}

/** What PublishLayerVersion sets besides the package. */
export interface PublishLayerInput {
  description?: string;
  licenseInfo?: string;
  compatibleRuntimes?: string[];
  compatibleArchitectures?: string[];
}

/** The LayerVersion a PublishLayerVersion call makes. */
export function layerVersionFrom(
  namespace: string,
  layerName: string,
  version: number,
  pkg: { digest: string; size: number },
  input: PublishLayerInput,
): LayerVersionResource {
  checkLayerName(layerName);
  if ((input.compatibleRuntimes?.length ?? 0) > 15)
    throw new InvalidParameterError('CompatibleRuntimes: at most 15');
  if ((input.compatibleArchitectures?.length ?? 0) > 2) {
    throw new InvalidParameterError('CompatibleArchitectures: at most 2');
  }
  for (const a of input.compatibleArchitectures ?? []) {
    if (a !== 'x86_64' && a !== 'arm64') {
      throw new InvalidParameterError(`CompatibleArchitectures: ${a} is not x86_64 or arm64`);
    }
  }
  return {
    apiVersion: API_VERSION,
    kind: 'LayerVersion',
    metadata: { name: layerVersionName(layerName, version), namespace },
    spec: {
      layerName,
      version,
      package: pkg.digest,
      codeSize: pkg.size,
      ...(input.description ? { description: input.description } : {}),
      ...(input.licenseInfo ? { licenseInfo: input.licenseInfo } : {}),
      ...(input.compatibleRuntimes?.length
        ? { compatibleRuntimes: input.compatibleRuntimes as LayerVersionSpec['compatibleRuntimes'] }
        : {}),
      ...(input.compatibleArchitectures?.length
        ? {
            compatibleArchitectures:
              input.compatibleArchitectures as LayerVersionSpec['compatibleArchitectures'],
          }
        : {}),
    },
  };
}

/** Lambda's layer version shape (GetLayerVersion, PublishLayerVersion; ListLayerVersions items). */
export function layerVersionOf(
  region: string,
  lv: LayerVersionResource,
  location?: string,
): Record<string, unknown> {
  const ns = lv.metadata.namespace ?? 'default';
  const s = lv.spec;
  return {
    ...(location !== undefined
      ? {
          Content: {
            Location: location,
            CodeSha256: Buffer.from(s.package.slice('sha256:'.length), 'hex').toString('base64'),
            CodeSize: s.codeSize ?? 0,
          },
          LayerArn: layerArn(region, ns, s.layerName),
        }
      : {}),
    LayerVersionArn: layerVersionArn(region, ns, s.layerName, s.version),
    Version: s.version,
    Description: s.description ?? '',
    CreatedDate: new Date(
      (lv.metadata.creationTimestamp as Date | string | undefined) ?? Date.now(),
    ).toISOString(),
    ...(s.compatibleRuntimes ? { CompatibleRuntimes: s.compatibleRuntimes } : {}),
    ...(s.compatibleArchitectures ? { CompatibleArchitectures: s.compatibleArchitectures } : {}),
    ...(s.licenseInfo ? { LicenseInfo: s.licenseInfo } : {}),
  };
}

/** ListLayers: each layer name of the namespace with its highest version. */
export function listLayersOf(region: string, versions: LayerVersionResource[]): Record<string, unknown>[] {
  const latest = new Map<string, LayerVersionResource>();
  for (const v of versions) {
    const cur = latest.get(v.spec.layerName);
    if (!cur || cur.spec.version < v.spec.version) latest.set(v.spec.layerName, v);
  }
  return [...latest.values()]
    .sort((a, b) => (a.spec.layerName < b.spec.layerName ? -1 : 1))
    .map((v) => ({
      LayerName: v.spec.layerName,
      LayerArn: layerArn(region, v.metadata.namespace ?? 'default', v.spec.layerName),
      LatestMatchingVersion: layerVersionOf(region, v),
    }));
}
