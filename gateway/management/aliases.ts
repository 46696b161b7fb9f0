import type { Request, RequestHandler } from 'express';
import { LATEST } from '../../api/naming.js';
import type { AliasResource, FunctionResource } from '../../api/types.js';
import type { Principal } from '../auth/principal.js';
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
  fields,
  functionName,
  parseJson,
  type Ctx,
  type ManagementDeps,
  type Verb,
} from './common.js';
import {
  aliasConfigurationOf,
  aliasFrom,
  aliasNameOf,
  checkAliasName,
  maxItems,
  paginate,
  withAliasUpdate,
} from './config-mapping.js';
import { PRECONDITION_MESSAGE, queryParam } from './configuration.js';
import { AlreadyExistsError, ConflictError, type FunctionObjectStore } from './store.js';

/**
 * CreateAlias, GetAlias, UpdateAlias, DeleteAlias and ListAliases at Lambda's paths, over Alias
 * objects (spec.function, spec.name = the alias name, spec.version, additionalVersionWeights =
 * RoutingConfig.AdditionalVersionWeights). The controller resolves them; the catalog routes by them.
 */

export interface AliasHandlers {
  createAlias: RequestHandler;
  getAlias: RequestHandler;
  updateAlias: RequestHandler;
  deleteAlias: RequestHandler;
  listAliases: RequestHandler;
}

/** ListAliases pages hold at most 50, as Lambda's. */
const PAGE_CAP = 50;

interface Call {
  principal: Principal;
  namespace: string;
  fnName: string;
  fn: FunctionResource;
}

function aliasArn(deps: ManagementDeps, namespace: string, fn: string, alias: string): string {
  return `arn:aws:lambda:${deps.region}:${namespace}:function:${fn}:${alias}`;
}

/** RoutingConfig.AdditionalVersionWeights of a body, or undefined when RoutingConfig is absent. */
function weightsOf(body: Record<string, unknown>): Record<string, number> | undefined {
  const routing = fields(body).obj('RoutingConfig');
  if (!routing) return undefined;
  const weights = fields(routing).obj('AdditionalVersionWeights') ?? {};
  for (const [k, w] of Object.entries(weights)) {
    if (typeof w !== 'number')
      throw new InvalidParameterError(`AdditionalVersionWeights.${k} must be a number`);
  }
  return weights as Record<string, number>;
}

/** Every version the alias names must be published (404 as Lambda's). */
async function checkVersions(deps: ManagementDeps, c: Call, a: AliasResource): Promise<void> {
  const named = [a.spec.version, ...Object.keys(a.spec.additionalVersionWeights ?? {})].filter(
    (v) => v !== LATEST,
  );
  if (!named.length) return;
  const known = new Set((await deps.versions.list(c.namespace, c.fnName)).map((v) => v.spec.version));
  const missing = named.find((v) => !known.has(v));
  if (missing) {
    throw new ResourceNotFoundError(
      `Function not found: arn:aws:lambda:${deps.region}:${c.namespace}:function:${c.fnName}:${missing}`,
    );
  }
}

export function makeAliasHandlers(
  deps: ManagementDeps,
  ctx: Ctx,
  objects: FunctionObjectStore,
): AliasHandlers {
  /** Authenticate, resolve the function in the caller's account, authorize the verb; 404 without the function. */
  const begin = async (
    req: Request,
    res: Parameters<RequestHandler>[1],
    verb: Verb,
    action: string,
  ): Promise<Call> => {
    const principal = await ctx.principalOf(req, res, MANAGEMENT_BODY_LIMIT);
    const { namespace, name } = functionName(req, deps, principal);
    const alias = req.params.alias === undefined ? '' : `:${String(req.params.alias)}`;
    await authorize(deps, principal, namespace, verb, 'aliases', action, `${namespace}/${name}${alias}`);
    return { principal, namespace, fnName: name, fn: await ctx.mustGet(namespace, name) };
  };
  const find = async (c: Call, alias: string): Promise<AliasResource | undefined> =>
    (await objects.listAliases(c.namespace, c.fnName)).find((a) => aliasNameOf(a) === alias);
  const mustFind = async (c: Call, alias: string): Promise<AliasResource> => {
    const a = await find(c, alias);
    if (!a) {
      throw new ResourceNotFoundError(`Alias not found: ${aliasArn(deps, c.namespace, c.fnName, alias)}`);
    }
    return a;
  };
  const aliasParam = (req: Request): string => {
    const name = String(req.params.alias);
    checkAliasName(name);
    return name;
  };

  const createAlias: RequestHandler = async (req, res) => {
    const c = await begin(req, res, 'create', 'CreateAlias');
    const body = parseJson(await callContext(res).readBody(MANAGEMENT_BODY_LIMIT));
    const f = fields(body);
    const name = f.str('Name');
    const functionVersion = f.str('FunctionVersion');
    if (name === undefined) throw new InvalidParameterError('Name is required');
    if (functionVersion === undefined) throw new InvalidParameterError('FunctionVersion is required');
    const weights = weightsOf(body);
    const description = f.str('Description');
    const alias = aliasFrom(c.namespace, c.fnName, {
      name,
      functionVersion,
      ...(description !== undefined ? { description } : {}),
      ...(weights ? { weights } : {}),
    });
    const taken = (): ResourceConflictError =>
      new ResourceConflictError(`Alias already exists: ${aliasArn(deps, c.namespace, c.fnName, name)}`);
    if (await find(c, name)) throw taken();
    await checkVersions(deps, c, alias);
    try {
      res.status(201).json(aliasConfigurationOf(deps.region, await objects.createAlias(alias)));
    } catch (err) {
      if (err instanceof AlreadyExistsError) throw taken();
      throw err;
    }
  };

  const getAlias: RequestHandler = async (req, res) => {
    const c = await begin(req, res, 'get', 'GetAlias');
    res.status(200).json(aliasConfigurationOf(deps.region, await mustFind(c, aliasParam(req))));
  };

  const updateAlias: RequestHandler = async (req, res) => {
    const c = await begin(req, res, 'update', 'UpdateAlias');
    const name = aliasParam(req);
    const body = parseJson(await callContext(res).readBody(MANAGEMENT_BODY_LIMIT));
    const f = fields(body);
    const current = await mustFind(c, name);
    const revision = f.str('RevisionId');
    if (revision !== undefined && revision !== current.metadata.resourceVersion) {
      throw new PreconditionFailedError(PRECONDITION_MESSAGE);
    }
    const functionVersion = f.str('FunctionVersion');
    const description = f.str('Description');
    const weights = weightsOf(body);
    const next = withAliasUpdate(current, {
      ...(functionVersion !== undefined ? { functionVersion } : {}),
      ...(description !== undefined ? { description } : {}),
      ...(weights ? { weights } : {}),
    });
    await checkVersions(deps, c, next);
    try {
      res.status(200).json(aliasConfigurationOf(deps.region, await objects.replaceAlias(next)));
    } catch (err) {
      if (err instanceof ConflictError) {
        throw new ResourceConflictError('The alias was changed by another call meanwhile; retry', {
          cause: err,
        });
      }
      throw err;
    }
  };

  const deleteAlias: RequestHandler = async (req, res) => {
    const c = await begin(req, res, 'delete', 'DeleteAlias');
    const a = await find(c, aliasParam(req));
    // Lambda answers 204 for an alias that does not exist, too.
    if (a) await objects.deleteAlias(c.namespace, a.metadata.name ?? '');
    res.status(204).end();
  };

  const listAliases: RequestHandler = async (req, res) => {
    const max = maxItems(queryParam(req, 'MaxItems'), PAGE_CAP);
    const marker = queryParam(req, 'Marker');
    const version = queryParam(req, 'FunctionVersion');
    const c = await begin(req, res, 'list', 'ListAliases');
    const all = (await objects.listAliases(c.namespace, c.fnName)).filter(
      (a) => version === undefined || a.spec.version === version,
    );
    const { page, nextMarker } = paginate(all, aliasNameOf, marker, max);
    res.status(200).json({
      Aliases: page.map((a) => aliasConfigurationOf(deps.region, a)),
      ...(nextMarker ? { NextMarker: nextMarker } : {}),
    });
  };

  return { createAlias, getAlias, updateAlias, deleteAlias, listAliases };
}
