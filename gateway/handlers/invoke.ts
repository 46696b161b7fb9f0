import type { Request, RequestHandler, Response } from 'express';
import { parseFunctionRef } from '../arn.js';
import { InvalidParameterError, InvalidRequestContentError } from '../errors.js';
import { callContext, headerOf } from '../http/context.js';
import { ASYNC_PAYLOAD_LIMIT } from '../../api/limits.js';
import { acceptAsync, type AsyncQueue } from '../invoke/async-queue.js';
import { admit, podHeaders, runSync, type InvocationDeps } from '../invoke/invocation.js';

export interface InvokeHandlerDeps extends InvocationDeps {
  defaultNamespace: string;
  /** Largest sync request body (6 MB); `Event` calls are read up to the async limit (1 MB). */
  bodyLimitBytes: number;
  /** The async pipeline; without it Event calls get 501. */
  asyncQueue?: AsyncQueue;
}

const INVOCATION_TYPES = ['RequestResponse', 'Event', 'DryRun'] as const;
type InvocationType = (typeof INVOCATION_TYPES)[number];
const MAX_CLIENT_CONTEXT = 3583;

function invocationType(req: Request): InvocationType {
  const t = headerOf(req, 'x-amz-invocation-type') ?? 'RequestResponse';
  if (!(INVOCATION_TYPES as readonly string[]).includes(t)) {
    throw new InvalidParameterError(
      `X-Amz-Invocation-Type "${t}" is invalid: allowed values are RequestResponse, Event and DryRun`,
    );
  }
  return t as InvocationType;
}

function logType(req: Request): 'Tail' | 'None' {
  const t = headerOf(req, 'x-amz-log-type') ?? 'None';
  if (t !== 'Tail' && t !== 'None') {
    throw new InvalidParameterError(`X-Amz-Log-Type "${t}" is invalid: allowed values are None and Tail`);
  }
  return t;
}

/** The event: JSON as Lambda requires (an empty body is the empty object). */
function eventBody(body: Buffer): Buffer {
  if (body.length === 0) return Buffer.from('{}');
  try {
    JSON.parse(body.toString('utf8'));
  } catch (cause) {
    throw new InvalidRequestContentError(
      'Could not parse request body into json: the payload must be valid JSON',
      {
        cause,
      },
    );
  }
  return body;
}

function queryParam(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new InvalidParameterError(`${name} must be given once`);
  return v;
}

/** `POST /2015-03-31/functions/:name/invocations` — the Lambda Invoke API. */
export function makeInvokeHandler(deps: InvokeHandlerDeps): RequestHandler {
  return async (req: Request, res: Response) => {
    const ctx = callContext(res);
    const type = invocationType(req);
    const tail = logType(req) === 'Tail';
    const clientContext = headerOf(req, 'x-amz-client-context');
    if (clientContext !== undefined && clientContext.length > MAX_CLIENT_CONTEXT) {
      throw new InvalidParameterError(`X-Amz-Client-Context must be at most ${MAX_CLIENT_CONTEXT} bytes`);
    }
    const ref = parseFunctionRef(
      String(req.params.name),
      queryParam(req, 'Qualifier'),
      deps.defaultNamespace,
    );
    const { target, principal, body } = await admit(deps, req, res, ref, {
      limitBytes: type === 'Event' ? ASYNC_PAYLOAD_LIMIT : deps.bodyLimitBytes,
      anonymous: false,
    });
    const payload = eventBody(body);
    res.set('X-Amz-Executed-Version', target.version);
    if (type === 'DryRun') {
      res.status(204).end();
      return;
    }
    if (type === 'Event') {
      await acceptAsync(deps.asyncQueue, req, res, target, payload, principal);
      return;
    }
    const extra: Record<string, string> = {};
    if (tail) extra['x-amz-log-type'] = 'Tail';
    if (clientContext) extra['x-amz-client-context'] = clientContext;
    const result = await runSync(
      deps,
      target,
      {
        ...(target.qualified ? { qualifier: target.qualifier } : {}),
        body: payload,
        headers: podHeaders(ctx, req.headers, extra),
      },
      ctx,
    );
    if (result.functionError) res.set('X-Amz-Function-Error', result.functionError);
    if (tail && result.logResult) res.set('X-Amz-Log-Result', result.logResult);
    res.status(200).type('application/json').send(result.body);
  };
}
