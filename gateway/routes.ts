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
}

/** Largest sync request body (lambda.md §1: 6 MB). */
export const SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024;

/** Every route of the gateway, in one place. */
export function routes(h: RouteHandlers, bodyLimit = SYNC_PAYLOAD_LIMIT): Router {
  const r = Router({ caseSensitive: true, strict: false });
  const body = rawBody(bodyLimit);
  r.get('/healthz', h.healthz);
  r.get('/readyz', h.readyz);
  r.post('/2015-03-31/functions/:name/invocations', body, h.invoke);
  r.post('/2015-03-31/functions/:name/versions', body, h.publishVersion);
  r.all('/url/:namespace/:name', body, h.functionUrl);
  r.all('/url/:namespace/:name/*path', body, h.functionUrl);
  r.use((req) => {
    throw new ResourceNotFoundError(`No route for ${req.method} ${req.path}`);
  });
  return r;
}
