import type { Request, RequestHandler } from 'express';
import { assertFunctionId } from '../../api/nats-naming.js';
import { GROUP } from '../../api/schema.js';
import { ValidationError, type Logger } from '../../lib/index.js';
import type { DeadLetterQueue } from '../async/dlq.js';
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
 * Who may list, inspect, redrive and purge a function's dead letters (the handlers below): whoever may change the function, i.e. has RBAC `update
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

/** What the dead-letters API needs of the async pipeline's dead-letter queue. */
export type DeadLetterStore = Pick<DeadLetterQueue, 'list' | 'get' | 'redrive' | 'purge' | 'delete'>;

export interface DeadLetterHandlerDeps {
  /**
   * The dead-letter queue; throws while there is none yet (the gateway answers 503 until its async
   * pipeline runs — before authenticating anyone, as there is nothing to authorize against).
   */
  dlq: () => DeadLetterStore;
  /**
   * Decides whether the caller may manage the function's dead letters; throws (an
   * AccessDeniedError, say) when not. Without it the handlers are open (tests of the queue itself).
   */
  authorize?: (req: Request, namespace: string, fn: string) => Promise<void> | void;
  log: Logger;
}

/** The dead-letters API's handlers; routes.ts lists their paths. */
export interface DeadLetterHandlers {
  list: RequestHandler;
  inspect: RequestHandler;
  redrive: RequestHandler;
  purge: RequestHandler;
  remove: RequestHandler;
}

function intParam(req: Request, name: string): number | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v))
    throw new ValidationError(`${name} must be a non-negative integer`);
  return Number(v);
}

/**
 * The dead-letters API (gateway/async/README.md has curl examples):
 *
 *   list     GET    …/dead-letters?after=SEQ&limit=N   oldest first
 *   inspect  GET    …/dead-letters/:seq                one, with its record
 *   redrive  POST   …/dead-letters/redrive[?seq=SEQ]   back to the queue
 *   purge    DELETE …/dead-letters                     all of the function's
 *   remove   DELETE …/dead-letters/:seq                one
 *
 * Errors are thrown to the gateway's error middleware (ValidationError → 400, NotFoundError → 404).
 */
export function makeDeadLetterHandlers(deps: DeadLetterHandlerDeps): DeadLetterHandlers {
  const target = async (req: Request): Promise<{ dlq: DeadLetterStore; ns: string; fn: string }> => {
    const dlq = deps.dlq();
    const ns = String(req.params.ns);
    const fn = String(req.params.fn);
    assertFunctionId(ns, fn);
    await deps.authorize?.(req, ns, fn);
    return { dlq, ns, fn };
  };
  return {
    list: async (req, res) => {
      const { dlq, ns, fn } = await target(req);
      const after = intParam(req, 'after');
      const limit = intParam(req, 'limit');
      res.json(
        await dlq.list(ns, fn, { ...(after !== undefined ? { after } : {}), ...(limit ? { limit } : {}) }),
      );
    },
    inspect: async (req, res) => {
      const { dlq, ns, fn } = await target(req);
      res.json(await dlq.get(ns, fn, String(req.params.seq)));
    },
    redrive: async (req, res) => {
      const { dlq, ns, fn } = await target(req);
      const seq = intParam(req, 'seq');
      const result = await dlq.redrive(ns, fn, seq !== undefined ? { seq } : {});
      deps.log.info(
        { namespace: ns, function: fn, redriven: result.redriven.length, failed: result.failed.length },
        'dead letters redriven',
      );
      res.status(result.failed.length > 0 && result.redriven.length === 0 ? 500 : 200).json(result);
    },
    purge: async (req, res) => {
      const { dlq, ns, fn } = await target(req);
      const purged = await dlq.purge(ns, fn);
      deps.log.info({ namespace: ns, function: fn, purged }, 'dead letters purged');
      res.json({ purged });
    },
    remove: async (req, res) => {
      const { dlq, ns, fn } = await target(req);
      await dlq.delete(ns, fn, String(req.params.seq));
      res.status(204).end();
    },
  };
}
