import type { ResolvedTarget } from '../catalog/catalog.js';

/** An accepted `Event` invocation, handed to the async pipeline. */
export interface AsyncInvocation {
  /** The request id of the Invoke call; the de-duplication id unless `idempotencyKey` is set. */
  requestId: string;
  /** From the caller's `Idempotency-Key` header. */
  idempotencyKey?: string;
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

/** Largest async event (lambda.md §1: 1 MB). */
export const ASYNC_PAYLOAD_LIMIT = 1024 * 1024;
