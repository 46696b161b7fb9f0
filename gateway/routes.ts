import { Router, type RequestHandler } from 'express';
import { ResourceNotFoundError } from './errors.js';
import { rawBody } from './http/body.js';

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

/** Largest sync request body (lambda.md §1: 6 MB). */
export const SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024;

/** Largest body of a management call (the dead-letters API takes none; SigV4 signs what is sent). */
const MANAGEMENT_BODY_LIMIT = 64 * 1024;

/** Every route of the gateway, in one place. */
export function routes(h: RouteHandlers, bodyLimit = SYNC_PAYLOAD_LIMIT): Router {
  const r = Router({ caseSensitive: true, strict: false });
  const body = rawBody(bodyLimit);
  r.get('/healthz', h.healthz);
  r.get('/readyz', h.readyz);
  r.get('/internal/v1/inflight', h.inflight);
  r.post('/2015-03-31/functions/:name/invocations', body, h.invoke);
  r.post('/2015-03-31/functions/:name/versions', body, h.publishVersion);
  r.all('/url/:namespace/:name', body, h.functionUrl);
  r.all('/url/:namespace/:name/*path', body, h.functionUrl);
  if (h.deadLetters) {
    r.all('/sluice/v1/*path', rawBody(MANAGEMENT_BODY_LIMIT));
    r.use(h.deadLetters);
  }
  r.use((req) => {
    throw new ResourceNotFoundError(`No route for ${req.method} ${req.path}`);
  });
  return r;
}
