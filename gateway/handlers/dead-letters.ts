import type { Request } from 'express';
import { GROUP } from '../../api/schema.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { AccessReviewer } from '../auth/kube-rbac.js';
import { formatPrincipal } from '../auth/principal.js';
import { AccessDeniedError } from '../errors.js';
import { MANAGEMENT_BODY_LIMIT } from '../http/body.js';
import { callContext, requestHeadOf } from '../http/context.js';

export interface DeadLetterAuthorizerDeps {
  auth: Authenticator;
  rbac: AccessReviewer;
}

/**
 * Who may list, inspect, redrive and purge a function's dead letters (the routes of
 * async/dlq-routes.ts): whoever may change the function, i.e. has RBAC `update
 * functions.sluice.dev` on it (a SubjectAccessReview). The caller authenticates as for Invoke
 * (bearer token or SigV4); anonymous callers and everyone else get 403 AccessDeniedException.
 */
export function makeDeadLetterAuthorizer(
  deps: DeadLetterAuthorizerDeps,
): (req: Request, namespace: string, fn: string) => Promise<void> {
  return async (req, namespace, fn) => {
    const res = req.res;
    const principal = await deps.auth.authenticate(
      requestHeadOf(req),
      res ? () => callContext(res).readBody(MANAGEMENT_BODY_LIMIT) : undefined,
    );
    const ok = await deps.rbac.allowed(principal, {
      namespace,
      verb: 'update',
      group: GROUP,
      resource: 'functions',
      name: fn,
    });
    if (!ok) {
      throw new AccessDeniedError(
        `${formatPrincipal(principal)} may not manage the dead letters of ${namespace}/${fn}: it needs RBAC update on functions.${GROUP}` +
          (principal.kind === 'anonymous' ? ' (no credentials were sent)' : ''),
      );
    }
  };
}
