import type { Request, RequestHandler, Response } from 'express';
import { PACKAGE_UNZIPPED_LIMIT, PACKAGE_ZIPPED_LIMIT } from '../../api/limits.js';
import { layerVersionName } from '../../api/layers.js';
import type { FunctionResource } from '../../api/types.js';
import { inspectPackage } from '../../lib/package/index.js';
import { parseFunctionRef } from '../arn.js';
import type { Principal } from '../auth/principal.js';
import {
  InvalidParameterError,
  LambdaError,
  ResourceConflictError,
  ResourceNotFoundError,
} from '../errors.js';
import { MANAGEMENT_BODY_LIMIT } from '../http/body.js';
import { publishVersion } from '../versions/publish.js';
import {
  authorize,
  callerNamespace,
  CODE_UPLOAD_BODY_LIMIT,
  context,
  fields,
  functionName,
  readCodeBody,
  tooLarge,
  type Ctx,
  type ManagementDeps,
} from './common.js';
import { makeAliasHandlers, type AliasHandlers } from './aliases.js';
import { makeConfigurationHandlers, type ConfigurationHandlers } from './configuration.js';
import {
  checkLayerName,
  functionFromCreate,
  layerVersionFrom,
  layerVersionOf,
  listLayersOf,
  withCode,
  type CodeSource,
} from './mapping.js';
import { AlreadyExistsError, ConflictError } from './store.js';

export { callerNamespace, CODE_UPLOAD_BODY_LIMIT, type ManagementDeps } from './common.js';

/**
 * The code-carrying part of Lambda's management API (CreateFunction, GetFunction,
 * UpdateFunctionCode, DeleteFunction and the five layer calls) at Lambda's paths, mapped onto the
 * CRDs (mapping.ts). Every call: authenticate, SubjectAccessReview for the verb on
 * functions/layerversions in the namespace (403 otherwise), then read the body.
 */

/** Decodes, checks and stores a base64 zip; its digest and size. */
async function storeZip(
  deps: ManagementDeps,
  namespace: string,
  base64: string,
  field: string,
): Promise<{ digest: string; size: number }> {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) throw new InvalidParameterError(`${field} must be base64`);
  const zip = Buffer.from(base64, 'base64');
  if (zip.length === 0) throw new InvalidParameterError(`${field} is empty`);
  if (zip.length > PACKAGE_ZIPPED_LIMIT) throw tooLarge();
  await inspectPackage(zip, { maxUnzippedBytes: PACKAGE_UNZIPPED_LIMIT });
  const { digest, size } = await deps.packages.put(namespace, zip);
  return { digest, size };
}

/** The code of CreateFunction's `Code` or UpdateFunctionCode's body: exactly one of ZipFile and ImageUri. */
async function codeFrom(
  deps: ManagementDeps,
  namespace: string,
  o: Record<string, unknown>,
): Promise<{ code: CodeSource; size: number }> {
  const f = fields(o);
  const zip = f.str('ZipFile');
  const image = f.str('ImageUri');
  if (o.S3Bucket !== undefined || o.S3Key !== undefined) {
    throw new InvalidParameterError('S3Bucket/S3Key are not supported by Sluice: send the zip as ZipFile');
  }
  if ((zip === undefined) === (image === undefined)) {
    throw new InvalidParameterError('Please provide exactly one of ZipFile or ImageUri');
  }
  if (image !== undefined) {
    if (image.length === 0 || image.length > 1024) throw new InvalidParameterError('ImageUri is invalid');
    return { code: { image }, size: 0 };
  }
  const { digest, size } = await storeZip(deps, namespace, zip as string, 'ZipFile');
  return { code: { package: digest }, size };
}

/** LayerName in the path: a name in the caller's namespace, or a layer ARN naming the namespace. */
function layerName(
  req: Request,
  deps: ManagementDeps,
  principal: Principal,
): { namespace: string; layer: string } {
  const raw = String(req.params.layer);
  const arn = /^arn:aws[a-z-]*:lambda:[a-z0-9-]*:([^:]+):layer:([^:]+)$/.exec(raw);
  const namespace = arn ? (arn[1] as string) : callerNamespace(principal, deps.defaultNamespace);
  const layer = arn ? (arn[2] as string) : raw;
  checkLayerName(layer);
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) {
    throw new InvalidParameterError(`The account field "${namespace}" must be a Kubernetes namespace name`);
  }
  return { namespace, layer };
}

function versionNumber(req: Request): number {
  const raw = String(req.params.version);
  if (!/^[1-9][0-9]{0,8}$/.test(raw)) throw new InvalidParameterError(`VersionNumber ${raw} is invalid`);
  return Number(raw);
}

export interface ManagementHandlers {
  /** The configuration and version calls (configuration.ts); absent without deps.objects. */
  configuration?: ConfigurationHandlers;
  /** The alias calls (aliases.ts); absent without deps.objects. */
  aliases?: AliasHandlers;
  createFunction: RequestHandler;
  getFunction: RequestHandler;
  updateFunctionCode: RequestHandler;
  deleteFunction: RequestHandler;
  publishLayerVersion: RequestHandler;
  getLayerVersion: RequestHandler;
  listLayers: RequestHandler;
  listLayerVersions: RequestHandler;
  deleteLayerVersion: RequestHandler;
}

function createFunctionHandler(deps: ManagementDeps, ctx: Ctx): RequestHandler {
  return async (req, res) => {
    const principal = await ctx.principalOf(req, res, CODE_UPLOAD_BODY_LIMIT);
    // The namespace is in the body: read it (under the upload budget) before authorizing.
    const body = await readCodeBody(deps, res);
    const f = fields(body);
    const nameField = f.str('FunctionName');
    if (!nameField) throw new InvalidParameterError('FunctionName is required');
    const ref = parseFunctionRef(nameField, undefined, callerNamespace(principal, deps.defaultNamespace));
    if (ref.qualified) throw new InvalidParameterError('FunctionName must not carry a qualifier');
    const { namespace, name } = ref;
    await authorize(
      deps,
      principal,
      namespace,
      'create',
      'functions',
      'CreateFunction',
      `${namespace}/${name}`,
    );
    const packageType = f.str('PackageType');
    if (packageType !== undefined && packageType !== 'Zip' && packageType !== 'Image') {
      throw new InvalidParameterError('PackageType must be Zip or Image');
    }
    const codeField = f.obj('Code');
    if (!codeField) throw new InvalidParameterError('Code is required');
    const env = f.obj('Environment');
    const vars = env ? fields(env).obj('Variables') : undefined;
    if (vars && !Object.values(vars).every((v) => typeof v === 'string')) {
      throw new InvalidParameterError('Environment.Variables values must be strings');
    }
    const eph = f.obj('EphemeralStorage');
    const input = {
      name,
      runtime: f.str('Runtime'),
      handler: f.str('Handler'),
      role: f.str('Role'),
      description: f.str('Description'),
      timeout: f.int('Timeout'),
      memorySize: f.int('MemorySize'),
      ephemeralStorage: eph ? fields(eph).int('Size') : undefined,
      environment: vars as Record<string, string> | undefined,
      layers: f.strs('Layers'),
    };
    // Validate everything but the code first, so a bad call stores no package.
    functionFromCreate(input, namespace, { package: `sha256:${'0'.repeat(64)}` });
    if (await deps.store.getFunction(namespace, name)) {
      throw new ResourceConflictError(`Function already exist: ${name}`);
    }
    const { code } = await codeFrom(deps, namespace, codeField);
    let fn: FunctionResource;
    try {
      fn = await deps.store.createFunction(functionFromCreate(input, namespace, code));
    } catch (err) {
      if (err instanceof AlreadyExistsError)
        throw new ResourceConflictError(`Function already exist: ${name}`);
      throw err;
    }
    if (f.bool('Publish')) {
      const { version } = await publishVersion(deps.versions, fn, {});
      res.status(201).json({ ...(await ctx.configuration(fn)), Version: version.spec.version });
      return;
    }
    res.status(201).json(await ctx.configuration(fn));
  };
}

function getFunctionHandler(deps: ManagementDeps, ctx: Ctx): RequestHandler {
  return async (req, res) => {
    const principal = await ctx.principalOf(req, res, MANAGEMENT_BODY_LIMIT);
    const { namespace, name } = functionName(req, deps, principal);
    await authorize(deps, principal, namespace, 'get', 'functions', 'GetFunction', `${namespace}/${name}`);
    const fn = await ctx.mustGet(namespace, name);
    const digest = fn.spec.code.package;
    const code = fn.spec.code.image
      ? { RepositoryType: 'ECR', ImageUri: fn.spec.code.image, ResolvedImageUri: fn.spec.code.image }
      : digest
        ? {
            RepositoryType: 'S3',
            ...(ctx.location(req, namespace, digest)
              ? { Location: ctx.location(req, namespace, digest) }
              : {}),
          }
        : { RepositoryType: 'S3' };
    res.status(200).json({ Configuration: await ctx.configuration(fn), Code: code });
  };
}

function updateFunctionCodeHandler(deps: ManagementDeps, ctx: Ctx): RequestHandler {
  return async (req, res) => {
    const principal = await ctx.principalOf(req, res, CODE_UPLOAD_BODY_LIMIT);
    const { namespace, name } = functionName(req, deps, principal);
    await authorize(
      deps,
      principal,
      namespace,
      'update',
      'functions',
      'UpdateFunctionCode',
      `${namespace}/${name}`,
    );
    const current = await ctx.mustGet(namespace, name);
    const body = await readCodeBody(deps, res);
    const f = fields(body);
    const revision = f.str('RevisionId');
    if (revision !== undefined && revision !== current.metadata.resourceVersion) {
      throw new LambdaError(
        412,
        'PreconditionFailedException',
        'The Revision Id provided does not match the latest Revision Id. Call the GetFunction API to retrieve the latest Revision Id',
      );
    }
    const { code } = await codeFrom(deps, namespace, body);
    let fn: FunctionResource;
    try {
      fn = await deps.store.replaceFunction(withCode(current, code));
    } catch (err) {
      if (err instanceof ConflictError) {
        throw new ResourceConflictError('The function was changed by another call meanwhile; retry', {
          cause: err,
        });
      }
      throw err;
    }
    if (f.bool('Publish')) {
      const { version } = await publishVersion(deps.versions, fn, {});
      res.status(200).json({ ...(await ctx.configuration(fn)), Version: version.spec.version });
      return;
    }
    res.status(200).json(await ctx.configuration(fn));
  };
}

function deleteFunctionHandler(deps: ManagementDeps, ctx: Ctx): RequestHandler {
  return async (req, res) => {
    if (req.query.Qualifier !== undefined) {
      throw new InvalidParameterError(
        'Deleting one version is not supported: delete its FunctionVersion with kubectl',
      );
    }
    const principal = await ctx.principalOf(req, res, MANAGEMENT_BODY_LIMIT);
    const { namespace, name } = functionName(req, deps, principal);
    await authorize(
      deps,
      principal,
      namespace,
      'delete',
      'functions',
      'DeleteFunction',
      `${namespace}/${name}`,
    );
    if (!(await deps.store.deleteFunction(namespace, name))) {
      throw new ResourceNotFoundError(
        `Function not found: arn:aws:lambda:${deps.region}:${namespace}:function:${name}`,
      );
    }
    res.status(204).end();
  };
}

/**
 * The layer a layer call names (a bare name in the caller's account), once the caller is
 * authenticated and Kubernetes RBAC allows `verb` on layerversions in that namespace.
 */
async function authorizedLayer(
  deps: ManagementDeps,
  ctx: Ctx,
  req: Request,
  res: Response,
  bodyLimit: number,
  verb: 'create' | 'get' | 'list' | 'delete',
  action: string,
): Promise<{ namespace: string; layer: string }> {
  const principal = await ctx.principalOf(req, res, bodyLimit);
  const { namespace, layer } = layerName(req, deps, principal);
  await authorize(deps, principal, namespace, verb, 'layerversions', action, `${namespace}/${layer}`);
  return { namespace, layer };
}

function publishLayerVersionHandler(deps: ManagementDeps, ctx: Ctx): RequestHandler {
  return async (req, res) => {
    const { namespace, layer } = await authorizedLayer(
      deps,
      ctx,
      req,
      res,
      CODE_UPLOAD_BODY_LIMIT,
      'create',
      'PublishLayerVersion',
    );
    const body = await readCodeBody(deps, res);
    const f = fields(body);
    const content = f.obj('Content');
    if (!content) throw new InvalidParameterError('Content is required');
    const zip = fields(content).str('ZipFile');
    if (zip === undefined)
      throw new InvalidParameterError('Content.ZipFile is required (S3 locations are not supported)');
    const input = {
      description: f.str('Description'),
      licenseInfo: f.str('LicenseInfo'),
      compatibleRuntimes: f.strs('CompatibleRuntimes'),
      compatibleArchitectures: f.strs('CompatibleArchitectures'),
    };
    layerVersionFrom(namespace, layer, 1, { digest: `sha256:${'0'.repeat(64)}`, size: 0 }, input);
    const pkg = await storeZip(deps, namespace, zip, 'Content.ZipFile');
    for (let attempt = 0; attempt < 5; attempt++) {
      const existing = await deps.store.listLayerVersions(namespace, layer);
      const next = existing.reduce((m, l) => Math.max(m, l.spec.version), 0) + 1;
      try {
        const lv = await deps.store.createLayerVersion(layerVersionFrom(namespace, layer, next, pkg, input));
        res.status(201).json(layerVersionOf(deps.region, lv, ctx.location(req, namespace, pkg.digest) ?? ''));
        return;
      } catch (err) {
        if (!(err instanceof AlreadyExistsError)) throw err;
      }
    }
    throw new ResourceConflictError(
      `Version numbers of layer ${layer} kept being taken by concurrent publishers; retry`,
    );
  };
}

function getLayerVersionHandler(deps: ManagementDeps, ctx: Ctx): RequestHandler {
  return async (req, res) => {
    const version = versionNumber(req);
    const { namespace, layer } = await authorizedLayer(
      deps,
      ctx,
      req,
      res,
      MANAGEMENT_BODY_LIMIT,
      'get',
      'GetLayerVersion',
    );
    const lv = (await deps.store.listLayerVersions(namespace, layer)).find((l) => l.spec.version === version);
    if (!lv) throw new ResourceNotFoundError('The resource you requested does not exist.');
    res
      .status(200)
      .json(layerVersionOf(deps.region, lv, ctx.location(req, namespace, lv.spec.package) ?? ''));
  };
}

function listLayersHandler(deps: ManagementDeps, ctx: Ctx): RequestHandler {
  return async (req, res) => {
    const principal = await ctx.principalOf(req, res, MANAGEMENT_BODY_LIMIT);
    const namespace = callerNamespace(principal, deps.defaultNamespace);
    await authorize(deps, principal, namespace, 'list', 'layerversions', 'ListLayers', namespace);
    res
      .status(200)
      .json({ Layers: listLayersOf(deps.region, await deps.store.listLayerVersions(namespace)) });
  };
}

function listLayerVersionsHandler(deps: ManagementDeps, ctx: Ctx): RequestHandler {
  return async (req, res) => {
    const { namespace, layer } = await authorizedLayer(
      deps,
      ctx,
      req,
      res,
      MANAGEMENT_BODY_LIMIT,
      'list',
      'ListLayerVersions',
    );
    const versions = (await deps.store.listLayerVersions(namespace, layer)).sort(
      (a, b) => b.spec.version - a.spec.version,
    );
    res.status(200).json({ LayerVersions: versions.map((v) => layerVersionOf(deps.region, v)) });
  };
}

function deleteLayerVersionHandler(deps: ManagementDeps, ctx: Ctx): RequestHandler {
  return async (req, res) => {
    const version = versionNumber(req);
    const { namespace, layer } = await authorizedLayer(
      deps,
      ctx,
      req,
      res,
      MANAGEMENT_BODY_LIMIT,
      'delete',
      'DeleteLayerVersion',
    );
    const lv = (await deps.store.listLayerVersions(namespace, layer)).find((l) => l.spec.version === version);
    // Lambda answers 204 for a version that does not exist, too.
    if (lv)
      await deps.store.deleteLayerVersion(namespace, lv.metadata.name ?? layerVersionName(layer, version));
    res.status(204).end();
  };
}

export function makeManagementHandlers(deps: ManagementDeps): ManagementHandlers {
  const ctx = context(deps);
  return {
    createFunction: createFunctionHandler(deps, ctx),
    getFunction: getFunctionHandler(deps, ctx),
    updateFunctionCode: updateFunctionCodeHandler(deps, ctx),
    deleteFunction: deleteFunctionHandler(deps, ctx),
    publishLayerVersion: publishLayerVersionHandler(deps, ctx),
    getLayerVersion: getLayerVersionHandler(deps, ctx),
    listLayers: listLayersHandler(deps, ctx),
    listLayerVersions: listLayerVersionsHandler(deps, ctx),
    deleteLayerVersion: deleteLayerVersionHandler(deps, ctx),
    ...(deps.objects
      ? {
          configuration: makeConfigurationHandlers(deps, ctx, deps.objects),
          aliases: makeAliasHandlers(deps, ctx, deps.objects),
        }
      : {}),
  };
}
