import { propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import type { Request, Response } from 'express';
import { formatPrincipal, type Principal } from '../auth/principal.js';
import type { ResolvedTarget } from '../catalog/catalog.js';
import { NotImplementedError, RequestTooLargeError } from '../errors.js';
import { callContext, headerOf } from '../http/context.js';
import { ASYNC_PAYLOAD_LIMIT } from '../../api/limits.js';
import { podHeaders } from './invocation.js';

/** An accepted `Event` invocation, handed to the async pipeline. */
export interface AsyncInvocation {
  /** The request id of the Invoke call; the de-duplication id unless `idempotencyKey` is set. */
  requestId: string;
  /** From the caller's `Idempotency-Key` header. */
  idempotencyKey?: string;
  /** The authenticated caller (`serviceaccount:NS:NAME`, `user:NAME`, `anonymous`): its key's scope. */
  caller: string;
  /** The function and version resolved at enqueue time (an alias's weighted pick included). */
  target: ResolvedTarget;
  /** The event, already validated as JSON and within the async size limit. */
  payload: Buffer;
  /** W3C trace context and X-Ray header to carry across the queue. */
  traceHeaders: Record<string, string>;
  receivedAt: Date;
}

/**
 * Where `InvocationType: Event` calls go: implemented by the async work (NATS JetStream), which
 * must persist the event durably before `enqueue` resolves (the caller is then answered 202).
 * When the gateway runs without one, Event calls are answered 501 NotImplementedException.
 */
export interface AsyncQueue {
  /**
   * Resolves once the event is stored. It may return the event's request id, which the caller is
   * answered with (it differs from the call's own id when an Idempotency-Key derived it).
   */
  enqueue(inv: AsyncInvocation): Promise<AsyncAccepted | void>;
}

/** What an AsyncQueue may report about an accepted event. */
export interface AsyncAccepted {
  /** The event's request id (`x-amzn-RequestId` of the 202). */
  requestId: string;
}

/**
 * Queues an `Event` invocation (Invoke API and function URLs alike) and answers the call: 202 with
 * the event's request id once the queue has stored it. With an Idempotency-Key the id is derived
 * from the key and the caller, so every retry of the call gets the same one and no other caller
 * shares it.
 */
export async function acceptAsync(
  queue: AsyncQueue | undefined,
  req: Request,
  res: Response,
  target: ResolvedTarget,
  payload: Buffer,
  caller: Principal,
): Promise<void> {
  if (!queue) {
    throw new NotImplementedError(
      'Asynchronous invocation (X-Amz-Invocation-Type: Event) is not available on this gateway: no async queue is configured',
    );
  }
  if (payload.length > ASYNC_PAYLOAD_LIMIT) throw new RequestTooLargeError(ASYNC_PAYLOAD_LIMIT);
  const ctx = callContext(res);
  const idempotencyKey = headerOf(req, 'idempotency-key');
  // The event carries the accepting call's span, so its delivery continues the caller's trace there.
  const traceHeaders = podHeaders(ctx, req.headers);
  if (ctx.span) propagation.inject(trace.setSpan(ROOT_CONTEXT, ctx.span), traceHeaders);
  const accepted = await queue.enqueue({
    requestId: ctx.requestId,
    ...(idempotencyKey ? { idempotencyKey } : {}),
    caller: formatPrincipal(caller),
    target,
    payload,
    traceHeaders,
    receivedAt: new Date(ctx.started),
  });
  if (accepted) res.set('x-amzn-RequestId', accepted.requestId);
  res.removeHeader('X-Amz-Executed-Version');
  res.status(202).end();
}
