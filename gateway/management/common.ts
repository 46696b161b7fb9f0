import type { Request, Response } from 'express';
import { GROUP } from '../../api/schema.js';
import { PACKAGE_ZIPPED_LIMIT } from '../../api/limits.js';
import { parseLayerVersionArn } from '../../api/layers.js';
import type { FunctionResource } from '../../api/types.js';
import { parseFunctionRef } from '../arn.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { AccessReviewer } from '../auth/kube-rbac.js';
import { formatPrincipal, type Principal } from '../auth/principal.js';
import {
  AccessDeniedError,
  InvalidParameterError,
  InvalidRequestContentError,
  LambdaError,
  RequestTooLargeError,
  ResourceNotFoundError,
} from '../errors.js';
import { MANAGEMENT_BODY_LIMIT } from '../http/body.js';
import { callContext, requestHeadOf } from '../http/context.js';
import type { ByteBudget } from '../limits/bytes.js';
import { locationPath, type Signer } from '../packages/location.js';
import type { PackageStore } from '../packages/store.js';
import type { VersionStore } from '../versions/publish.js';
import { functionConfigurationOf } from './mapping.js';
import type { FunctionObjectStore, ManagementStore } from './store.js';

/**
 * What every management call shares (management/handlers.ts, configuration.ts, aliases.ts): the
 * dependencies, authentication, the SubjectAccessReview, typed body fields, the caller's account
 * and Lambda's FunctionConfiguration of a Function.
 */

/** A body carrying a zip in base64: 50 MB zipped is about 70 MB of base64, plus the JSON around it. */
export const CODE_UPLOAD_BODY_LIMIT = Math.ceil(PACKAGE_ZIPPED_LIMIT / 3) * 4 + 64 * 1024;

export interface ManagementDeps {
  auth: Authenticator;
  reviewer: AccessReviewer;
  store: ManagementStore;
  packages: PackageStore;
  versions: VersionStore;
  /**
   * Function lists and Alias objects (GetFunctionConfiguration and the other configuration
   * calls, the alias calls); without it those calls are not routed.
   */
  objects?: FunctionObjectStore;
  /** Signs Code.Location links (packages/location.ts); without it GetFunction gives no Location. */
  sign?: Signer;
  /** Request bytes code uploads buffer at once, apart from the invoke path's budget. */
  uploadBudget: ByteBudget;
  defaultNamespace: string;
  region: string;
  now?: () => number;
}

export type Verb = 'create' | 'get' | 'update' | 'delete' | 'list';

export async function authorize(
  deps: ManagementDeps,
  principal: Principal,
  namespace: string,
  verb: Verb,
  resource: 'functions' | 'layerversions' | 'aliases',
  action: string,
  what: string,
): Promise<void> {
  const ok = await deps.reviewer.allowed(principal, { namespace, verb, group: GROUP, resource });
  if (!ok) {
    throw new AccessDeniedError(
      `${formatPrincipal(principal)} is not authorized to perform: lambda:${action} on resource: ${what} (needs RBAC ${verb} ${resource}.${GROUP} in namespace ${namespace})`,
    );
  }
}

export function parseJson(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (cause) {
    throw new InvalidRequestContentError('Could not parse request body into json', { cause });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidRequestContentError('The body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/** Typed field readers of a JSON body (InvalidParameterValueException on a wrong type). */
export interface Fields {
  str(k: string): string | undefined;
  int(k: string): number | undefined;
  bool(k: string): boolean | undefined;
  obj(k: string): Record<string, unknown> | undefined;
  strs(k: string): string[] | undefined;
}

export function fields(o: Record<string, unknown>): Fields {
  const get = <T>(k: string, type: string, check: (v: unknown) => v is T): T | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (!check(v)) throw new InvalidParameterError(`${k} must be ${type}`);
    return v;
  };
  const isStr = (v: unknown): v is string => typeof v === 'string';
  const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
  const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
  const isObj = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  const isStrs = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);
  return {
    str: (k: string) => get(k, 'a string', isStr),
    int: (k: string) => get(k, 'an integer', isInt),
    bool: (k: string) => get(k, 'a boolean', isBool),
    obj: (k: string) => get(k, 'an object', isObj),
    strs: (k: string) => get(k, 'a list of strings', isStrs),
  };
}

/** Reads a body that may carry a zip: its own budget, 413 RequestEntityTooLargeException beyond the limit. */
export async function readCodeBody(deps: ManagementDeps, res: Response): Promise<Record<string, unknown>> {
  return parseJson(await readUpload(deps, res));
}

export function readUpload(deps: ManagementDeps, res: Response): Promise<Buffer> {
  return callContext(res)
    .readBody(CODE_UPLOAD_BODY_LIMIT, deps.uploadBudget)
    .catch((err: unknown) => {
      throw err instanceof RequestTooLargeError ? tooLarge() : err;
    });
}

export function tooLarge(): LambdaError {
  return new LambdaError(
    413,
    'RequestEntityTooLargeException',
    `Request must be smaller than ${PACKAGE_ZIPPED_LIMIT} bytes for the zip file (upload larger packages in parts is not supported)`,
  );
}

/**
 * FunctionName in the path, unqualified: a bare name is in the caller's account (callerNamespace),
 * an ARN names its namespace. The caller is authenticated first.
 */
export function functionName(
  req: Request,
  deps: ManagementDeps,
  principal: Principal,
): { namespace: string; name: string } {
  const ref = parseFunctionRef(
    String(req.params.name),
    undefined,
    callerNamespace(principal, deps.defaultNamespace),
  );
  if (ref.qualified) throw new InvalidParameterError('This call takes an unqualified function name');
  return { namespace: ref.namespace, name: ref.name };
}

/**
 * The namespace of the caller's own account, for what Lambda scopes to the caller's account (a bare
 * function or layer name, ListFunctions, ListLayers): a ServiceAccount's namespace (also through
 * an access key bound to one); the default namespace for anyone else.
 */
export function callerNamespace(principal: Principal, defaultNamespace: string): string {
  return principal.kind === 'serviceaccount' ? principal.namespace : defaultNamespace;
}

/** What the handlers share: authentication, Code.Location links, configurations, lookups. */
export interface Ctx {
  now: () => number;
  principalOf: (req: Request, res: Response, limit: number) => Promise<Principal>;
  location: (req: Request, namespace: string, digest: string) => string | undefined;
  configuration: (fn: FunctionResource) => Promise<Record<string, unknown>>;
  mustGet: (namespace: string, name: string) => Promise<FunctionResource>;
}

export function context(deps: ManagementDeps): Ctx {
  const now = deps.now ?? Date.now;
  const principalOf = (req: Request, res: Response, limit: number): Promise<Principal> =>
    deps.auth.authenticate(requestHeadOf(req), () =>
      limit > MANAGEMENT_BODY_LIMIT ? readUpload(deps, res) : callContext(res).readBody(limit),
    );
  const location = (req: Request, namespace: string, digest: string): string | undefined =>
    deps.sign
      ? `${req.protocol}://${req.get('host') ?? 'localhost'}${locationPath(deps.sign, namespace, digest, now())}`
      : undefined;
  const packageSize = async (namespace: string, digest: string | undefined): Promise<number> =>
    digest ? ((await deps.packages.list(namespace)).find((p) => p.digest === digest)?.size ?? 0) : 0;
  const configuration = async (fn: FunctionResource): Promise<Record<string, unknown>> => {
    const ns = fn.metadata.namespace ?? 'default';
    const layers = await deps.store.listLayerVersions(ns);
    const sizeOf = (arn: string): number => {
      const ref = parseLayerVersionArn(arn);
      return (
        layers.find((l) => ref && l.spec.layerName === ref.layerName && l.spec.version === ref.version)?.spec
          .codeSize ?? 0
      );
    };
    return functionConfigurationOf(deps.region, fn, await packageSize(ns, fn.spec.code.package), sizeOf);
  };
  const mustGet = async (namespace: string, name: string): Promise<FunctionResource> => {
    const fn = await deps.store.getFunction(namespace, name);
    if (!fn)
      throw new ResourceNotFoundError(
        `Function not found: arn:aws:lambda:${deps.region}:${namespace}:function:${name}`,
      );
    return fn;
  };

  return { now, principalOf, location, configuration, mustGet };
}
