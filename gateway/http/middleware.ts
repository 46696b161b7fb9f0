import { randomUUID } from 'node:crypto';
import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { RequestHandler } from 'express';
import type { Logger } from '../../lib/index.js';
import { assertCanonicalPath } from '../auth/sigv4.js';
import type { GatewayMetrics } from '../metrics.js';
import { callContext } from './context.js';

/** Gives every call its request id (`x-amzn-RequestId` on the answer) and start time. */
export function callId(): RequestHandler {
  return (_req, res, next) => {
    const ctx = callContext(res);
    ctx.requestId = randomUUID();
    ctx.started = Date.now();
    res.set('x-amzn-RequestId', ctx.requestId);
    next();
  };
}

/** The route template of a request (bounded label values), or `other`. */
function routeOf(req: Parameters<RequestHandler>[0]): string {
  const r = (req.route as { path?: unknown } | undefined)?.path;
  return typeof r === 'string' ? r : 'other';
}

/** Counts requests by route template and status, and logs each at debug (errors at their own level). */
export function requestMetrics(metrics: GatewayMetrics, log: Logger): RequestHandler {
  return (req, res, next) => {
    res.on('finish', () => {
      const route = routeOf(req);
      metrics.requests.inc({ route, code: String(res.statusCode) });
      log.debug(
        {
          requestId: callContext(res).requestId,
          method: req.method,
          route,
          status: res.statusCode,
          ms: Date.now() - callContext(res).started,
        },
        'request',
      );
    });
    next();
  };
}

const UNTRACED = /^\/(healthz|readyz|metrics)$|^\/internal\//;

/**
 * One server span per call, continuing the caller's W3C trace context. The span is in
 * `res.locals.span`; handlers start the client span to the pod from it.
 */
export function tracing(tracer: Tracer): RequestHandler {
  return (req, res, next) => {
    // Probes, scrapes and the platform's own polling are not calls: no spans for them.
    if (UNTRACED.test(req.path)) {
      next();
      return;
    }
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = tracer.startSpan(
      `${req.method} sluice-gateway`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': req.method, 'url.path': req.path },
      },
      parent,
    );
    span.setAttribute('sluice.request_id', callContext(res).requestId);
    callContext(res).span = span;
    res.on('finish', () => {
      span.updateName(`${req.method} ${routeOf(req)}`);
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    next();
  };
}

/**
 * SigV4-signed requests must use a path in its normal form, checked before routing (so before
 * anything else): SigV4 normalises `.`, `..` and empty segments, the router does not, and a
 * signature must not verify for a path other than the one it was made for.
 */
export function sigv4CanonicalPaths(): RequestHandler {
  return (req, _res, next) => {
    const auth = req.headers.authorization;
    if (typeof auth !== 'string' || !auth.startsWith('AWS4-')) return next();
    const q = req.originalUrl.indexOf('?');
    try {
      assertCanonicalPath(q < 0 ? req.originalUrl : req.originalUrl.slice(0, q));
    } catch (err) {
      return next(err);
    }
    next();
  };
}
