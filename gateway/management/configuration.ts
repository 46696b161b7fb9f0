import type { Request, RequestHandler } from 'express';
import { parseLayerVersionArn } from '../../api/layers.js';
import { LATEST } from '../../api/naming.js';
import type { FunctionResource, FunctionVersionResource } from '../../api/types.js';
import { parseFunctionRef } from '../arn.js';
import {
  InvalidParameterError,
  PreconditionFailedError,
  ResourceConflictError,
  ResourceNotFoundError,
} from '../errors.js';
import { MANAGEMENT_BODY_LIMIT } from '../http/body.js';
import { callContext } from '../http/context.js';
import {
  authorize,
  callerNamespace,
  fields,
  functionName,
  parseJson,
  type Ctx,
  type ManagementDeps,
} from './common.js';
import {
  aliasNameOf,
  maxItems,
  paginate,
  versionConfigurationOf,
  withConfiguration,
  type ConfigurationInput,
} from './config-mapping.js';
import { functionConfigurationOf } from './mapping.js';
import { ConflictError, type FunctionObjectStore } from './store.js';

/**
 * GetFunctionConfiguration, UpdateFunctionConfiguration, ListFunctions and ListVersionsByFunction
 * at Lambda's paths, over the Function and FunctionVersion objects (config-mapping.ts).
 */

export interface ConfigurationHandlers {
  getFunctionConfiguration: RequestHandler;
  updateFunctionConfiguration: RequestHandler;
  listFunctions: RequestHandler;
  listVersionsByFunction: RequestHandler;
}

/** Lambda's page size caps: ListFunctions and ListVersionsByFunction return at most 50. */
const PAGE_CAP = 50;

/** A query parameter given at most once, as a string. */
export function queryParam(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new InvalidParameterError(`${name} must be given once`);
  return v;
}

export const PRECONDITION_MESSAGE =
  'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id';

/** Code and layer sizes of a namespace's packages, read once for many configurations. */
async function sizesOf(
  deps: ManagementDeps,
  namespace: string,
): Promise<{ code: (digest: string | undefined) => number; layer: (arn: string) => number }> {
  const [packages, layers] = await Promise.all([
    deps.packages.list(namespace),
    deps.store.listLayerVersions(namespace),
  ]);
  return {
    code: (digest) => (digest ? (packages.find((p) => p.digest === digest)?.size ?? 0) : 0),
    layer: (arn) => {
      const ref = parseLayerVersionArn(arn);
      return (
        layers.find((l) => ref && l.spec.layerName === ref.layerName && l.spec.version === ref.version)?.spec
          .codeSize ?? 0
      );
    },
  };
}

/** The version a qualifier names: a FunctionVersion, through an alias when it is one; 404 otherwise. */
async function versionOf(
  deps: ManagementDeps,
  objects: FunctionObjectStore,
  fn: FunctionResource,
  qualifier: string,
): Promise<FunctionVersionResource | undefined> {
  const ns = fn.metadata.namespace ?? 'default';
  const name = fn.metadata.name ?? '';
  let version = qualifier;
  if (!/^[0-9]+$/.test(qualifier)) {
    const alias = (await objects.listAliases(ns, name)).find((a) => aliasNameOf(a) === qualifier);
    if (!alias) {
      throw new ResourceNotFoundError(
        `Function not found: arn:aws:lambda:${deps.region}:${ns}:function:${name}:${qualifier}`,
      );
    }
    version = alias.spec.version;
    if (version === LATEST) return undefined;
  }
  const v = (await deps.versions.list(ns, name)).find((x) => x.spec.version === version);
  if (!v) {
    throw new ResourceNotFoundError(
      `Function not found: arn:aws:lambda:${deps.region}:${ns}:function:${name}:${qualifier}`,
    );
  }
  return v;
}

function getFunctionConfigurationHandler(
  deps: ManagementDeps,
  ctx: Ctx,
  objects: FunctionObjectStore,
): RequestHandler {
  return async (req, res) => {
    const principal = await ctx.principalOf(req, res, MANAGEMENT_BODY_LIMIT);
    const ref = parseFunctionRef(
      String(req.params.name),
      queryParam(req, 'Qualifier'),
      callerNamespace(principal, deps.defaultNamespace),
    );
    const { namespace, name } = ref;
    await authorize(
      deps,
      principal,
      namespace,
      'get',
      'functions',
      'GetFunctionConfiguration',
      `${namespace}/${name}`,
    );
    const fn = await ctx.mustGet(namespace, name);
    const v = ref.qualifier === LATEST ? undefined : await versionOf(deps, objects, fn, ref.qualifier);
    if (!v) {
      res.status(200).json(await ctx.configuration(fn));
      return;
    }
    const sizes = await sizesOf(deps, namespace);
    res
      .status(200)
      .json(versionConfigurationOf(deps.region, v, sizes.code(v.spec.snapshot.code.package), sizes.layer));
  };
}

/** UpdateFunctionConfiguration's body: the fields it may change, typed. */
function configurationInput(body: Record<string, unknown>): ConfigurationInput {
  const f = fields(body);
  const env = f.obj('Environment');
  const vars = env ? (fields(env).obj('Variables') ?? {}) : undefined;
  if (vars && !Object.values(vars).every((v) => typeof v === 'string')) {
    throw new InvalidParameterError('Environment.Variables values must be strings');
  }
  const eph = f.obj('EphemeralStorage');
  const ephSize = eph ? fields(eph).int('Size') : undefined;
  if (eph && ephSize === undefined) throw new InvalidParameterError('EphemeralStorage.Size is required');
  for (const unsupported of ['VpcConfig', 'KMSKeyArn', 'FileSystemConfigs', 'ImageConfig', 'SnapStart']) {
    if (body[unsupported] !== undefined) {
      throw new InvalidParameterError(`${unsupported} is not supported by Sluice`);
    }
  }
  const input: ConfigurationInput = {};
  const set = <K extends keyof ConfigurationInput>(k: K, v: ConfigurationInput[K] | undefined): void => {
    if (v !== undefined) input[k] = v;
  };
  set('description', f.str('Description'));
  set('handler', f.str('Handler'));
  set('memorySize', f.int('MemorySize'));
  set('timeout', f.int('Timeout'));
  set('environment', vars as Record<string, string> | undefined);
  set('runtime', f.str('Runtime'));
  set('role', f.str('Role'));
  set('layers', f.strs('Layers'));
  set('ephemeralStorage', ephSize);
  return input;
}

function updateFunctionConfigurationHandler(deps: ManagementDeps, ctx: Ctx): RequestHandler {
  return async (req, res) => {
    const principal = await ctx.principalOf(req, res, MANAGEMENT_BODY_LIMIT);
    const { namespace, name } = functionName(req, deps, principal);
    await authorize(
      deps,
      principal,
      namespace,
      'update',
      'functions',
      'UpdateFunctionConfiguration',
      `${namespace}/${name}`,
    );
    const body = parseJson(await callContext(res).readBody(MANAGEMENT_BODY_LIMIT));
    const input = configurationInput(body);
    const revision = fields(body).str('RevisionId');
    const current = await ctx.mustGet(namespace, name);
    if (revision !== undefined && revision !== current.metadata.resourceVersion) {
      throw new PreconditionFailedError(PRECONDITION_MESSAGE);
    }
    let fn: FunctionResource;
    try {
      fn = await deps.store.replaceFunction(withConfiguration(current, input));
    } catch (err) {
      if (err instanceof ConflictError) {
        throw new ResourceConflictError('The function was changed by another call meanwhile; retry', {
          cause: err,
        });
      }
      throw err;
    }
    res.status(200).json(await ctx.configuration(fn));
  };
}

function listFunctionsHandler(deps: ManagementDeps, ctx: Ctx, objects: FunctionObjectStore): RequestHandler {
  return async (req, res) => {
    const principal = await ctx.principalOf(req, res, MANAGEMENT_BODY_LIMIT);
    const namespace = callerNamespace(principal, deps.defaultNamespace);
    const max = maxItems(queryParam(req, 'MaxItems'), PAGE_CAP);
    const marker = queryParam(req, 'Marker');
    const fv = queryParam(req, 'FunctionVersion');
    if (fv !== undefined && fv !== 'ALL') {
      throw new InvalidParameterError(
        `1 validation error detected: Value '${fv}' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]`,
      );
    }
    await authorize(deps, principal, namespace, 'list', 'functions', 'ListFunctions', namespace);
    const all = await objects.listFunctions(namespace);
    const { page, nextMarker } = paginate(all, (f) => f.metadata.name ?? '', marker, max);
    const sizes = await sizesOf(deps, namespace);
    const configs: Record<string, unknown>[] = [];
    for (const fn of page) {
      configs.push(functionConfigurationOf(deps.region, fn, sizes.code(fn.spec.code.package), sizes.layer));
      if (fv === 'ALL') {
        const versions = await deps.versions.list(namespace, fn.metadata.name ?? '');
        versions.sort((a, b) => Number(a.spec.version) - Number(b.spec.version));
        for (const v of versions) {
          configs.push(
            versionConfigurationOf(deps.region, v, sizes.code(v.spec.snapshot.code.package), sizes.layer),
          );
        }
      }
    }
    res.status(200).json({ Functions: configs, ...(nextMarker ? { NextMarker: nextMarker } : {}) });
  };
}

/** Sort key of ListVersionsByFunction: $LATEST first, then versions in numeric order. */
function versionKey(v: string): string {
  return v === LATEST ? '0' : v.padStart(17, '0');
}

function listVersionsByFunctionHandler(deps: ManagementDeps, ctx: Ctx): RequestHandler {
  return async (req, res) => {
    const principal = await ctx.principalOf(req, res, MANAGEMENT_BODY_LIMIT);
    const { namespace, name } = functionName(req, deps, principal);
    const max = maxItems(queryParam(req, 'MaxItems'), PAGE_CAP);
    const marker = queryParam(req, 'Marker');
    await authorize(
      deps,
      principal,
      namespace,
      'list',
      'functions',
      'ListVersionsByFunction',
      `${namespace}/${name}`,
    );
    const fn = await ctx.mustGet(namespace, name);
    const versions = await deps.versions.list(namespace, name);
    const entries: { key: string; fn?: FunctionResource; v?: FunctionVersionResource }[] = [
      { key: versionKey(LATEST), fn },
      ...versions.map((v) => ({ key: versionKey(v.spec.version), v })),
    ];
    const { page, nextMarker } = paginate(entries, (e) => e.key, marker, max);
    const sizes = await sizesOf(deps, namespace);
    const configs = page.map((e) =>
      e.v
        ? versionConfigurationOf(deps.region, e.v, sizes.code(e.v.spec.snapshot.code.package), sizes.layer)
        : functionConfigurationOf(deps.region, fn, sizes.code(fn.spec.code.package), sizes.layer),
    );
    res.status(200).json({ Versions: configs, ...(nextMarker ? { NextMarker: nextMarker } : {}) });
  };
}

export function makeConfigurationHandlers(
  deps: ManagementDeps,
  ctx: Ctx,
  objects: FunctionObjectStore,
): ConfigurationHandlers {
  return {
    getFunctionConfiguration: getFunctionConfigurationHandler(deps, ctx, objects),
    updateFunctionConfiguration: updateFunctionConfigurationHandler(deps, ctx),
    listFunctions: listFunctionsHandler(deps, ctx, objects),
    listVersionsByFunction: listVersionsByFunctionHandler(deps, ctx),
  };
}
