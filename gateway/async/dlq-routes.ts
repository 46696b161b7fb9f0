import { Router, type Request, type RequestHandler } from 'express';
import { ValidationError, type Logger } from '../../lib/index.js';
import type { DeadLetterQueue } from './dlq.js';
import { assertFunctionId } from '../../api/nats-naming.js';

export interface DeadLetterRouterDeps {
  dlq: DeadLetterQueue;
  log: Logger;
  /**
   * Decides whether the caller may manage the function's dead letters; throws (an
   * AccessDeniedError, say) when not. Without it the routes are open: mount them behind the
   * gateway's authentication.
   */
  authorize?: (req: Request, namespace: string, fn: string) => Promise<void> | void;
}

const BASE = '/sluice/v1/namespaces/:ns/functions/:fn/dead-letters';

function intParam(req: Request, name: string): number | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v))
    throw new ValidationError(`${name} must be a non-negative integer`);
  return Number(v);
}

/**
 * The dead-letters API (README.md has curl examples):
 *
 *   GET    /sluice/v1/namespaces/:ns/functions/:fn/dead-letters?after=SEQ&limit=N   list, oldest first
 *   GET    /sluice/v1/namespaces/:ns/functions/:fn/dead-letters/:seq                one, with its record
 *   POST   /sluice/v1/namespaces/:ns/functions/:fn/dead-letters/redrive[?seq=SEQ]   back to the queue
 *   DELETE /sluice/v1/namespaces/:ns/functions/:fn/dead-letters[/:seq]              purge (or delete one)
 *
 * Errors are thrown to the gateway's error middleware (ValidationError → 400, NotFoundError → 404).
 */
export function makeDeadLetterRouter(deps: DeadLetterRouterDeps): Router {
  const r = Router({ caseSensitive: true, strict: false });
  const target = async (req: Request): Promise<{ ns: string; fn: string }> => {
    const ns = String(req.params.ns);
    const fn = String(req.params.fn);
    assertFunctionId(ns, fn);
    await deps.authorize?.(req, ns, fn);
    return { ns, fn };
  };
  const list: RequestHandler = async (req, res) => {
    const { ns, fn } = await target(req);
    const after = intParam(req, 'after');
    const limit = intParam(req, 'limit');
    res.json(
      await deps.dlq.list(ns, fn, { ...(after !== undefined ? { after } : {}), ...(limit ? { limit } : {}) }),
    );
  };
  const inspect: RequestHandler = async (req, res) => {
    const { ns, fn } = await target(req);
    res.json(await deps.dlq.get(ns, fn, String(req.params.seq)));
  };
  const redrive: RequestHandler = async (req, res) => {
    const { ns, fn } = await target(req);
    const seq = intParam(req, 'seq');
    const result = await deps.dlq.redrive(ns, fn, seq !== undefined ? { seq } : {});
    deps.log.info(
      { namespace: ns, function: fn, redriven: result.redriven.length, failed: result.failed.length },
      'dead letters redriven',
    );
    res.status(result.failed.length > 0 && result.redriven.length === 0 ? 500 : 200).json(result);
  };
  const purge: RequestHandler = async (req, res) => {
    const { ns, fn } = await target(req);
    const purged = await deps.dlq.purge(ns, fn);
    deps.log.info({ namespace: ns, function: fn, purged }, 'dead letters purged');
    res.json({ purged });
  };
  const remove: RequestHandler = async (req, res) => {
    const { ns, fn } = await target(req);
    await deps.dlq.delete(ns, fn, String(req.params.seq));
    res.status(204).end();
  };
  r.get(BASE, list);
  r.post(`${BASE}/redrive`, redrive);
  r.get(`${BASE}/:seq`, inspect);
  r.delete(BASE, purge);
  r.delete(`${BASE}/:seq`, remove);
  return r;
}
