import { Router, type RequestHandler } from 'express';
import { INFLIGHT_PATH } from '../api/inflight.js';
import { ResourceNotFoundError } from './errors.js';
import type { DeadLetterHandlers } from './handlers/dead-letters.js';
import { PACKAGE_DELIVERY_PATH, PACKAGE_DOWNLOAD_PATH } from './handlers/packages.js';
import type { ManagementHandlers } from './management/handlers.js';
import type { SettingsHandlers } from './management/settings.js';

/** The handlers behind the gateway's routes (each built by its factory in handlers/). */
export interface RouteHandlers {
  invoke: RequestHandler;
  publishVersion: RequestHandler;
  functionUrl: RequestHandler;
  healthz: RequestHandler;
  readyz: RequestHandler;
  /** `GET /internal/v1/inflight` for the autoscaler (handlers/inflight.ts). */
  inflight: RequestHandler;
  /** The dead-letters API of the async pipeline (handlers/dead-letters.ts). Absent without async. */
  deadLetters?: DeadLetterHandlers;
  /** Zip packages (handlers/packages.ts): pods fetch theirs, Code.Location links download. */
  packages?: { delivery: RequestHandler; download: RequestHandler };
  /** The code-carrying management calls and the layer calls (management/handlers.ts). */
  management?: ManagementHandlers;
  /** Concurrency, event invoke config, resource policy and account settings (management/settings.ts). */
  settings?: SettingsHandlers;
}

/** Where a function's dead letters are managed. */
export const DEAD_LETTERS_PATH = '/sluice/v1/namespaces/:ns/functions/:fn/dead-letters';

/** The dead-letters API's routes (also served alone by tests of the async pipeline). */
export function deadLetterRoutes(
  h: DeadLetterHandlers,
  r: Router = Router({ caseSensitive: true, strict: false }),
): Router {
  r.get(DEAD_LETTERS_PATH, h.list);
  r.post(`${DEAD_LETTERS_PATH}/redrive`, h.redrive);
  r.get(`${DEAD_LETTERS_PATH}/:seq`, h.inspect);
  r.delete(DEAD_LETTERS_PATH, h.purge);
  r.delete(`${DEAD_LETTERS_PATH}/:seq`, h.remove);
  return r;
}

/** Lambda's paths of the function-wide settings and the account (management/settings.ts). */
function settingsRoutes(s: SettingsHandlers, r: Router): void {
  r.put('/2017-10-31/functions/:name/concurrency', s.putFunctionConcurrency);
  r.get('/2019-09-30/functions/:name/concurrency', s.getFunctionConcurrency);
  r.delete('/2017-10-31/functions/:name/concurrency', s.deleteFunctionConcurrency);
  const eic = '/2019-09-25/functions/:name/event-invoke-config';
  r.put(eic, s.putFunctionEventInvokeConfig);
  r.post(eic, s.updateFunctionEventInvokeConfig);
  r.get(eic, s.getFunctionEventInvokeConfig);
  r.delete(eic, s.deleteFunctionEventInvokeConfig);
  r.post('/2015-03-31/functions/:name/policy', s.addPermission);
  r.get('/2015-03-31/functions/:name/policy', s.getPolicy);
  r.delete('/2015-03-31/functions/:name/policy/:sid', s.removePermission);
  if (s.getAccountSettings) r.get('/2016-08-19/account-settings', s.getAccountSettings);
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
  if (h.management) {
    const m = h.management;
    r.post('/2015-03-31/functions', m.createFunction);
    r.get('/2015-03-31/functions/:name', m.getFunction);
    r.delete('/2015-03-31/functions/:name', m.deleteFunction);
    r.put('/2015-03-31/functions/:name/code', m.updateFunctionCode);
    if (m.configuration) {
      const c = m.configuration;
      r.get('/2015-03-31/functions', c.listFunctions);
      r.get('/2015-03-31/functions/:name/configuration', c.getFunctionConfiguration);
      r.put('/2015-03-31/functions/:name/configuration', c.updateFunctionConfiguration);
      r.get('/2015-03-31/functions/:name/versions', c.listVersionsByFunction);
    }
    if (m.aliases) {
      const a = m.aliases;
      r.post('/2015-03-31/functions/:name/aliases', a.createAlias);
      r.get('/2015-03-31/functions/:name/aliases', a.listAliases);
      r.get('/2015-03-31/functions/:name/aliases/:alias', a.getAlias);
      r.put('/2015-03-31/functions/:name/aliases/:alias', a.updateAlias);
      r.delete('/2015-03-31/functions/:name/aliases/:alias', a.deleteAlias);
    }
    r.get('/2018-10-31/layers', m.listLayers);
    r.post('/2018-10-31/layers/:layer/versions', m.publishLayerVersion);
    r.get('/2018-10-31/layers/:layer/versions', m.listLayerVersions);
    r.get('/2018-10-31/layers/:layer/versions/:version', m.getLayerVersion);
    r.delete('/2018-10-31/layers/:layer/versions/:version', m.deleteLayerVersion);
  }
  if (h.settings) settingsRoutes(h.settings, r);
  r.all('/url/:namespace/:name', h.functionUrl);
  r.all('/url/:namespace/:name/*path', h.functionUrl);
  if (h.deadLetters) deadLetterRoutes(h.deadLetters, r);
  if (h.packages) {
    r.get(PACKAGE_DELIVERY_PATH, h.packages.delivery);
    r.get(PACKAGE_DOWNLOAD_PATH, h.packages.download);
  }
  r.use((req) => {
    throw new ResourceNotFoundError(`No route for ${req.method} ${req.path}`);
  });
  return r;
}
