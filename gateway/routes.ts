import { Router, type RequestHandler } from 'express';
import { INFLIGHT_PATH } from '../api/inflight.js';
import { ResourceNotFoundError } from './errors.js';

/** The handlers behind the gateway's routes (each built by its factory in handlers/). */
export interface RouteHandlers {
  invoke: RequestHandler;
  publishVersion: RequestHandler;
  functionUrl: RequestHandler;
  healthz: RequestHandler;
  readyz: RequestHandler;
  /** `GET /internal/v1/inflight` for the autoscaler (handlers/inflight.ts). */
  inflight: RequestHandler;
  /**
   * The dead-letters API of the async pipeline (`/sluice/v1/namespaces/:ns/functions/:fn/dead-letters…`,
   * async/dlq-routes.ts), authorizing each call itself (handlers/dead-letters.ts). Absent without async.
   */
  deadLetters?: RequestHandler;
}

/**
 * Every route of the gateway, in one place. No route reads a body up front: each handler reads
 * it (callContext(res).readBody) once it has authenticated and admitted the caller.
 */
export function routes(h: RouteHandlers): Router {
  const r = Router({ caseSensitive: true, strict: false });
  r.get('/healthz', h.healthz);
  r.get('/readyz', h.readyz);
  r.get(INFLIGHT_PATH, h.inflight);
  r.post('/2015-03-31/functions/:name/invocations', h.invoke);
  r.post('/2015-03-31/functions/:name/versions', h.publishVersion);
  r.all('/url/:namespace/:name', h.functionUrl);
  r.all('/url/:namespace/:name/*path', h.functionUrl);
  if (h.deadLetters) r.use(h.deadLetters);
  r.use((req) => {
    throw new ResourceNotFoundError(`No route for ${req.method} ${req.path}`);
  });
  return r;
}
