import type { Request, RequestHandler, Response } from 'express';
import { parseFunctionRef } from '../arn.js';
import type { Authenticator } from '../auth/authenticator.js';
import { formatPrincipal } from '../auth/principal.js';
import type { FunctionResolver } from '../catalog/catalog.js';
import { AccessDeniedError, InvalidParameterError, InvalidRequestContentError } from '../errors.js';
import { MANAGEMENT_BODY_LIMIT } from '../http/body.js';
import { callContext, requestHeadOf } from '../http/context.js';
import { callerNamespace } from '../management/common.js';
import { versionConfigurationOf } from '../management/config-mapping.js';
import {
  publishVersion,
  type PublishAuthorizer,
  type PublishInput,
  type VersionStore,
} from '../versions/publish.js';

export interface PublishHandlerDeps {
  auth: Authenticator;
  resolver: FunctionResolver;
  authorizer: PublishAuthorizer;
  store: VersionStore;
  defaultNamespace: string;
  region: string;
}

function parseInput(body: Buffer): PublishInput {
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (cause) {
    throw new InvalidRequestContentError('Could not parse request body into json', { cause });
  }
  if (typeof parsed !== 'object' || parsed === null)
    throw new InvalidRequestContentError('The body must be a JSON object');
  const o = parsed as Record<string, unknown>;
  const str = (k: string): string | undefined => {
    if (o[k] === undefined || o[k] === null) return undefined;
    if (typeof o[k] !== 'string') throw new InvalidParameterError(`${k} must be a string`);
    return o[k];
  };
  const description = str('Description');
  if (description !== undefined && description.length > 256)
    throw new InvalidParameterError('Description must be at most 256 characters');
  const codeSha256 = str('CodeSha256');
  const revisionId = str('RevisionId');
  return {
    ...(description ? { description } : {}),
    ...(codeSha256 ? { codeSha256 } : {}),
    ...(revisionId ? { revisionId } : {}),
  };
}

/** `POST /2015-03-31/functions/:name/versions` — Lambda's PublishVersion. */
export function makePublishVersionHandler(deps: PublishHandlerDeps): RequestHandler {
  return async (req: Request, res: Response) => {
    const ctx = callContext(res);
    const read = (): Promise<Buffer> => ctx.readBody(MANAGEMENT_BODY_LIMIT);
    // Authenticated and authorized before the body is read; a bare name is in the caller's account.
    const principal = await deps.auth.authenticate(requestHeadOf(req), read);
    const ref = parseFunctionRef(
      String(req.params.name),
      undefined,
      callerNamespace(principal, deps.defaultNamespace),
    );
    if (ref.qualified) throw new InvalidParameterError('PublishVersion takes an unqualified function name');
    const { fn } = deps.resolver.resolve(ref);
    if (!(await deps.authorizer.canPublish(principal, ref.namespace))) {
      throw new AccessDeniedError(
        `${formatPrincipal(principal)} is not authorized to perform: lambda:PublishVersion on resource: ${ref.namespace}/${ref.name} (needs RBAC create functionversions.sluice.dev)`,
      );
    }
    const input = parseInput(await read());
    const { version, created } = await publishVersion(deps.store, fn, input);
    // Lambda's configuration of the version (runtime names as Lambda's, CodeSha256 base64 for a zip).
    res.status(created ? 201 : 200).json(versionConfigurationOf(deps.region, version, 0));
  };
}
