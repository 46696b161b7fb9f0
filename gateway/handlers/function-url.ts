import { createHash } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { parseUrlFunctionRef } from '../arn.js';
import { formatPrincipal } from '../auth/principal.js';
import { InvalidParameterError } from '../errors.js';
import { callContext, headerLists, headerOf } from '../http/context.js';
import { ASYNC_PAYLOAD_LIMIT } from '../../api/limits.js';
import { acceptAsync, type AsyncQueue } from '../invoke/async-queue.js';
import { admit, podHeaders, runSync, type InvocationDeps } from '../invoke/invocation.js';
import { buildUrlEvent } from '../url/event.js';
import { BAD_GATEWAY, mapUrlResult, type UrlResponse } from '../url/response.js';

/** The path below `/url/{namespace}/{name}` and the query, both exactly as received. */
function splitUrl(req: Request): { rawPath: string; rawQuery: string } {
  const url = req.originalUrl;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const rest = path.split('/').slice(4).join('/');
  return { rawPath: `/${rest}`, rawQuery: q < 0 ? '' : url.slice(q + 1) };
}

function send(res: Response, r: UrlResponse): void {
  res.status(r.status);
  for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
  if (r.cookies.length > 0) res.append('Set-Cookie', r.cookies);
  res.end(r.body);
}

export interface FunctionUrlHandlerDeps extends InvocationDeps {
  /** Largest sync request body (6 MB); `Event` calls are read up to the async limit (1 MB). */
  bodyLimitBytes: number;
  /** The async pipeline; without it `X-Amz-Invocation-Type: Event` on a URL gets 501. */
  asyncQueue?: AsyncQueue;
}

/** `X-Amz-Invocation-Type` on a function URL: absent (a synchronous call) or `Event`. */
function isAsync(req: Request): boolean {
  const t = headerOf(req, 'x-amz-invocation-type');
  if (t === undefined || t === 'RequestResponse') return false;
  if (t === 'Event') return true;
  throw new InvalidParameterError(
    `X-Amz-Invocation-Type "${t}" is invalid on a function URL: allowed values are RequestResponse and Event`,
  );
}

/**
 * `ANY /url/{namespace}/{name}[:{alias}]/{path…}` — function URLs: the HTTP request becomes an
 * API Gateway v2 (payload 2.0) event; the result becomes the HTTP response. A function whose
 * invokePolicy holds `"*"` is public; others need the same credentials as the Invoke API.
 *
 * The plain-HTTP form of an asynchronous invocation: with `X-Amz-Invocation-Type: Event` the
 * event is queued (1 MB limit, `Idempotency-Key` honoured) and the answer is 202 with the event's
 * request id in `x-amzn-RequestId`; the function's result goes to its destinations.
 */
export function makeFunctionUrlHandler(deps: FunctionUrlHandlerDeps): RequestHandler {
  return async (req: Request, res: Response) => {
    const ctx = callContext(res);
    const ref = parseUrlFunctionRef(String(req.params.name), String(req.params.namespace));
    const async = isAsync(req);
    const { target, principal, body } = await admit(deps, req, res, ref, {
      limitBytes: async ? ASYNC_PAYLOAD_LIMIT : deps.bodyLimitBytes,
      anonymous: true,
    });
    const { rawPath, rawQuery } = splitUrl(req);
    const event = buildUrlEvent({
      method: req.method,
      rawPath,
      rawQueryString: rawQuery,
      headers: headerLists(req),
      body,
      sourceIp: req.socket.remoteAddress ?? '',
      domainName: req.headers.host ?? 'localhost',
      protocol: `HTTP/${req.httpVersion}`,
      requestId: ctx.requestId,
      accountId: target.namespace,
      apiId: createHash('sha256').update(`${target.namespace}/${target.function}`).digest('hex').slice(0, 10),
      time: new Date(ctx.started),
      ...(principal.kind !== 'anonymous' ? { caller: formatPrincipal(principal) } : {}),
    });
    const payload = Buffer.from(JSON.stringify(event));
    if (async) {
      await acceptAsync(deps.asyncQueue, req, res, target, payload, principal);
      return;
    }
    const result = await runSync(
      deps,
      target,
      {
        ...(target.qualified ? { qualifier: target.qualifier } : {}),
        body: payload,
        headers: podHeaders(ctx, req.headers),
      },
      ctx,
    );
    send(res, result.functionError ? BAD_GATEWAY : mapUrlResult(result.body));
  };
}
