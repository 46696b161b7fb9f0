import type { Request, RequestHandler, Response } from 'express';
import { PACKAGE_UNZIPPED_LIMIT, PACKAGE_ZIPPED_LIMIT } from '../../api/limits.js';
import { LATEST } from '../../api/naming.js';
import type { FunctionResource } from '../../api/types.js';
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
  callerNamespace,
  context,
  functionName,
  parseJson,
  type Ctx,
  type ManagementDeps,
  type Verb,
} from './common.js';
import { PRECONDITION_MESSAGE, queryParam } from './configuration.js';
import {
  addStatement,
  permissionInput,
  policyOf,
  removeStatement,
  statementDocument,
  withStatements,
} from './policy-mapping.js';
import {
  accountSettingsOf,
  concurrencyOf,
  eventInvokeConfigOf,
  eventInvokeInput,
  hasEventInvokeConfig,
  reservedInput,
  withEventInvokePut,
  withEventInvokeUpdate,
  withoutEventInvokeConfig,
  withReserved,
} from './settings-mapping.js';
import { ConflictError, type FunctionObjectStore } from './store.js';

/**
 * The function-wide settings of Lambda's management API, on a Function's spec:
 * PutFunctionConcurrency/GetFunctionConcurrency/DeleteFunctionConcurrency (spec.concurrency.reserved),
 * Put/Get/Update/DeleteFunctionEventInvokeConfig (spec.async), AddPermission/RemovePermission/
 * GetPolicy (spec.invokePolicy) and GetAccountSettings (the caller's namespace). Mappings in
 * settings-mapping.ts and policy-mapping.ts. Every call: authenticate, resolve the name in the
 * caller's account, SubjectAccessReview (get or update functions; list for the account), then read.
 */

export interface SettingsHandlers {
  putFunctionConcurrency: RequestHandler;
  getFunctionConcurrency: RequestHandler;
  deleteFunctionConcurrency: RequestHandler;
  putFunctionEventInvokeConfig: RequestHandler;
  getFunctionEventInvokeConfig: RequestHandler;
  updateFunctionEventInvokeConfig: RequestHandler;
  deleteFunctionEventInvokeConfig: RequestHandler;
  addPermission: RequestHandler;
  removePermission: RequestHandler;
  getPolicy: RequestHandler;
  /** Absent without a FunctionObjectStore (it counts the namespace's functions). */
  getAccountSettings?: RequestHandler;
}

export interface SettingsOptions {
  /** Lists the namespace's Functions for GetAccountSettings. */
  objects?: FunctionObjectStore;
  /** The per-namespace code storage quota (AccountLimit.TotalCodeSize). */
  codeStorageQuotaBytes: number;
  /** Calls in flight the gateway admits (AccountLimit.ConcurrentExecutions). */
  concurrentExecutions: () => number;
}

interface Call {
  principal: Principal;
  namespace: string;
  name: string;
  fn: FunctionResource;
}

/** Sluice keeps one value per function: a Qualifier other than $LATEST (when allowed) is refused. */
function checkQualifier(req: Request, latestAllowed: boolean): void {
  const q = queryParam(req, 'Qualifier');
  if (q === undefined || (latestAllowed && q === LATEST)) return;
  throw new InvalidParameterError(
    `Qualifier ${q} is not supported here: Sluice keeps this setting per function${latestAllowed ? ' ($LATEST)' : ''}, not per version or alias`,
  );
}

function checkRevision(fn: FunctionResource, revision: string | undefined): void {
  if (revision !== undefined && revision !== fn.metadata.resourceVersion) {
    throw new PreconditionFailedError(PRECONDITION_MESSAGE);
  }
}

function calls(deps: ManagementDeps, ctx: Ctx) {
  const begin = async (req: Request, res: Response, verb: Verb, action: string): Promise<Call> => {
    const principal = await ctx.principalOf(req, res, MANAGEMENT_BODY_LIMIT);
    const { namespace, name } = functionName(req, deps, principal);
    await authorize(deps, principal, namespace, verb, 'functions', action, `${namespace}/${name}`);
    return { principal, namespace, name, fn: await ctx.mustGet(namespace, name) };
  };
  const body = async (res: Response): Promise<Record<string, unknown>> =>
    parseJson(await callContext(res).readBody(MANAGEMENT_BODY_LIMIT));
  const write = async (fn: FunctionResource): Promise<FunctionResource> => {
    try {
      return await deps.store.replaceFunction(fn);
    } catch (err) {
      if (err instanceof ConflictError) {
        throw new ResourceConflictError('The function was changed by another call meanwhile; retry', {
          cause: err,
        });
      }
      throw err;
    }
  };
  return { begin, body, write };
}

function concurrencyHandlers(
  deps: ManagementDeps,
  ctx: Ctx,
): Pick<SettingsHandlers, 'putFunctionConcurrency' | 'getFunctionConcurrency' | 'deleteFunctionConcurrency'> {
  const { begin, body, write } = calls(deps, ctx);
  return {
    putFunctionConcurrency: async (req, res) => {
      const c = await begin(req, res, 'update', 'PutFunctionConcurrency');
      const reserved = reservedInput(await body(res));
      res.status(200).json(concurrencyOf(await write(withReserved(c.fn, reserved))));
    },
    getFunctionConcurrency: async (req, res) => {
      const c = await begin(req, res, 'get', 'GetFunctionConcurrency');
      res.status(200).json(concurrencyOf(c.fn));
    },
    deleteFunctionConcurrency: async (req, res) => {
      const c = await begin(req, res, 'update', 'DeleteFunctionConcurrency');
      if (c.fn.spec.concurrency?.reserved !== undefined) await write(withReserved(c.fn, undefined));
      res.status(204).end();
    },
  };
}

function eventInvokeHandlers(
  deps: ManagementDeps,
  ctx: Ctx,
): Pick<
  SettingsHandlers,
  | 'putFunctionEventInvokeConfig'
  | 'getFunctionEventInvokeConfig'
  | 'updateFunctionEventInvokeConfig'
  | 'deleteFunctionEventInvokeConfig'
> {
  const { begin, body, write } = calls(deps, ctx);
  const missing = (c: Call): ResourceNotFoundError =>
    new ResourceNotFoundError(
      `The function arn:aws:lambda:${deps.region}:${c.namespace}:function:${c.name} doesn't have an EventInvokeConfig`,
    );
  const now = (): Date => new Date(ctx.now());
  return {
    putFunctionEventInvokeConfig: async (req, res) => {
      checkQualifier(req, true);
      const c = await begin(req, res, 'update', 'PutFunctionEventInvokeConfig');
      const input = eventInvokeInput(await body(res), c.namespace);
      const fn = await write(withEventInvokePut(c.fn, input, now()));
      res.status(200).json(eventInvokeConfigOf(deps.region, fn));
    },
    updateFunctionEventInvokeConfig: async (req, res) => {
      checkQualifier(req, true);
      const c = await begin(req, res, 'update', 'UpdateFunctionEventInvokeConfig');
      const input = eventInvokeInput(await body(res), c.namespace);
      const fn = await write(withEventInvokeUpdate(c.fn, input, now()));
      res.status(200).json(eventInvokeConfigOf(deps.region, fn));
    },
    getFunctionEventInvokeConfig: async (req, res) => {
      checkQualifier(req, true);
      const c = await begin(req, res, 'get', 'GetFunctionEventInvokeConfig');
      if (!hasEventInvokeConfig(c.fn)) throw missing(c);
      res.status(200).json(eventInvokeConfigOf(deps.region, c.fn));
    },
    deleteFunctionEventInvokeConfig: async (req, res) => {
      checkQualifier(req, true);
      const c = await begin(req, res, 'update', 'DeleteFunctionEventInvokeConfig');
      if (!hasEventInvokeConfig(c.fn)) throw missing(c);
      await write(withoutEventInvokeConfig(c.fn));
      res.status(204).end();
    },
  };
}

function policyHandlers(
  deps: ManagementDeps,
  ctx: Ctx,
): Pick<SettingsHandlers, 'addPermission' | 'removePermission' | 'getPolicy'> {
  const { begin, body, write } = calls(deps, ctx);
  return {
    addPermission: async (req, res) => {
      checkQualifier(req, false);
      const c = await begin(req, res, 'update', 'AddPermission');
      const b = await body(res);
      const statement = permissionInput(b);
      const revision = b.RevisionId;
      if (revision !== undefined && typeof revision !== 'string')
        throw new InvalidParameterError('RevisionId must be a string');
      checkRevision(c.fn, revision);
      const fn = await write(withStatements(c.fn, addStatement(c.fn, statement)));
      res.status(201).json({ Statement: JSON.stringify(statementDocument(deps.region, fn, statement)) });
    },
    removePermission: async (req, res) => {
      checkQualifier(req, false);
      const revision = queryParam(req, 'RevisionId');
      const c = await begin(req, res, 'update', 'RemovePermission');
      checkRevision(c.fn, revision);
      const rest = removeStatement(c.fn, String(req.params.sid), deps.region);
      await write(withStatements(c.fn, rest));
      res.status(204).end();
    },
    getPolicy: async (req, res) => {
      checkQualifier(req, false);
      const c = await begin(req, res, 'get', 'GetPolicy');
      res.status(200).json(policyOf(deps.region, c.fn));
    },
  };
}

function accountSettingsHandler(
  deps: ManagementDeps,
  ctx: Ctx,
  opts: SettingsOptions,
  objects: FunctionObjectStore,
): RequestHandler {
  return async (req, res) => {
    const principal = await ctx.principalOf(req, res, MANAGEMENT_BODY_LIMIT);
    const namespace = callerNamespace(principal, deps.defaultNamespace);
    await authorize(deps, principal, namespace, 'list', 'functions', 'GetAccountSettings', namespace);
    const [functions, packages] = await Promise.all([
      objects.listFunctions(namespace),
      deps.packages.list(namespace),
    ]);
    res.status(200).json(
      accountSettingsOf({
        quotaBytes: opts.codeStorageQuotaBytes,
        unzippedLimit: PACKAGE_UNZIPPED_LIMIT,
        zippedLimit: PACKAGE_ZIPPED_LIMIT,
        concurrentExecutions: opts.concurrentExecutions(),
        functions,
        storedBytes: packages.reduce((n, p) => n + p.size, 0),
      }),
    );
  };
}

export function makeSettingsHandlers(deps: ManagementDeps, opts: SettingsOptions): SettingsHandlers {
  const ctx = context(deps);
  return {
    ...concurrencyHandlers(deps, ctx),
    ...eventInvokeHandlers(deps, ctx),
    ...policyHandlers(deps, ctx),
    ...(opts.objects ? { getAccountSettings: accountSettingsHandler(deps, ctx, opts, opts.objects) } : {}),
  };
}
