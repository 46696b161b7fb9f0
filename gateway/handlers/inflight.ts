import type { RequestHandler } from 'express';
import { inflightReport } from '../../api/inflight.js';
import type { Authenticator } from '../auth/authenticator.js';
import { formatPrincipal } from '../auth/principal.js';
import { AccessDeniedError } from '../errors.js';
import { MANAGEMENT_BODY_LIMIT } from '../http/body.js';
import { callContext, requestHeadOf } from '../http/context.js';
import type { InflightCounter } from '../invoke/inflight.js';

export interface InflightHandlerDeps {
  auth: Authenticator;
  inflight: InflightCounter;
  /** Who may read the counts: Sluice's own principals (the poller's ServiceAccount). */
  platformPrincipals: ReadonlySet<string>;
}

/**
 * `GET /internal/v1/inflight` — this replica's calls in flight (running or waiting for a pod) per
 * function version, for the autoscaler, in the report format of api/inflight.ts.
 *
 * It lists which functions exist, so only the platform principals may read it (the poller sends
 * its ServiceAccount token); anyone else gets 403.
 */
export function makeInflightHandler(deps: InflightHandlerDeps): RequestHandler {
  return async (req, res) => {
    const principal = await deps.auth.authenticate(requestHeadOf(req), () =>
      callContext(res).readBody(MANAGEMENT_BODY_LIMIT),
    );
    const name = formatPrincipal(principal);
    if (principal.kind === 'anonymous' || !deps.platformPrincipals.has(name)) {
      throw new AccessDeniedError(`${name} is not authorized to read the gateway's in-flight calls`);
    }
    res.status(200).json(inflightReport(deps.inflight.snapshot()));
  };
}
