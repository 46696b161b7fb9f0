import { randomUUID } from 'node:crypto';
import { context, propagation } from '@opentelemetry/api';
import type { JetStreamClient } from '@nats-io/jetstream';
import { ASYNC_PAYLOAD_LIMIT } from '../../api/limits.js';
import { ValidationError } from '../../lib/index.js';
import { EnqueueFailedError, AsyncPayloadTooLargeError } from './errors.js';
import { eventHeaders, safeHeaderValue, type AsyncEvent } from './event.js';
import type { BacklogGuard } from './backlog.js';
import type { AsyncMetrics } from './metrics.js';
import { assertFunctionId, hashOf, type Subjects } from '../../api/nats-naming.js';

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
/** Idempotency keys: printable ASCII without spaces, ≤ 256 characters. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,256}$/;
const QUALIFIER = /^(\$LATEST|[0-9]+|[A-Za-z0-9_-]{1,128})$/;

export interface AcceptRequest {
  namespace: string;
  function: string;
  /** The qualifier as invoked (version or alias); absent: $LATEST. */
  qualifier?: string;
  payload: Buffer;
  /** The gateway's id of this Invoke call. */
  requestId: string;
  /** The caller's `Idempotency-Key` header. */
  idempotencyKey?: string;
  /**
   * Who called (`serviceaccount:NS:NAME`, `user:NAME`, `anonymous`): an Idempotency-Key is scoped
   * to its caller. Internal publishers (destinations, redrive) use explicit ids instead.
   */
  caller?: string;
  /** W3C trace context of the accepting span; the active context's is used when absent. */
  traceparent?: string;
  tracestate?: string;
  /** X-Ray style trace header, carried through for the runtime. */
  amznTrace?: string;
}

export interface AcceptResult {
  /**
   * The event's request id, to answer the caller with. Without an Idempotency-Key it is the
   * call's own id; with one it is derived from (caller, namespace, function, key), so every retry
   * of the call — duplicate or not — gets the same id back.
   */
  requestId: string;
  /** The `Nats-Msg-Id` the event was published with. */
  eventId: string;
  /** Stream sequence of the event (of the original when `duplicate`). */
  seq: number;
  /** JetStream already had this event (same key inside the de-duplication window): not enqueued again. */
  duplicate: boolean;
}

/** What the gateway's AsyncQueue hands over (its `AsyncInvocation`, structurally). */
export interface GatewayAsyncInvocation {
  requestId: string;
  idempotencyKey?: string;
  /** The authenticated caller (formatPrincipal): the scope of its Idempotency-Key. */
  caller?: string;
  target: { namespace: string; function: string; qualifier: string; qualified: boolean };
  payload: Buffer;
  traceHeaders: Record<string, string>;
  receivedAt?: Date;
}

export interface AcceptorDeps {
  js: JetStreamClient;
  subjects: Subjects;
  metrics?: AsyncMetrics;
  limitBytes?: number;
  /** The per-function backlog limit (429 beyond it); none when absent. */
  backlog?: BacklogGuard;
  /** How long to wait for the PubAck. */
  publishTimeoutMs?: number;
  now?: () => number;
}

/**
 * The `Nats-Msg-Id` of an event sent with an Idempotency-Key: derived from (caller, namespace,
 * function, key), so two callers using the same key never collide — neither suppresses the
 * other's event as a duplicate — and none is answered another's request id.
 */
export function idempotentEventId(caller: string, namespace: string, fn: string, key: string): string {
  return `key:${hashOf(JSON.stringify([caller, namespace, fn, key]), 40)}`;
}

/** A UUID-shaped id derived from a string (stable across processes). */
export function derivedRequestId(seed: string): string {
  const h = hashOf(seed, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16] ?? '0', 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Accepts async events: validates them, publishes them to the function's async subject and
 * resolves only once JetStream acknowledged the publish (written to the store, and fsynced when the
 * server runs with `sync_interval: always`, the chart's default; replicated to a quorum when the
 * stream has replicas), so a 202 means durable (README.md, "What is durable, under which failure").
 */
export class EventAcceptor {
  private readonly limit: number;
  private readonly now: () => number;

  constructor(private readonly deps: AcceptorDeps) {
    this.limit = deps.limitBytes ?? ASYNC_PAYLOAD_LIMIT;
    this.now = deps.now ?? Date.now;
  }

  /** Validates before any network call; throws AsyncPayloadTooLargeError (413) or ValidationError (400). */
  validate(req: AcceptRequest): void {
    assertFunctionId(req.namespace, req.function);
    if (req.payload.length > this.limit) throw new AsyncPayloadTooLargeError(this.limit, req.payload.length);
    if (!REQUEST_ID.test(req.requestId))
      throw new ValidationError(`request id "${req.requestId}" is invalid`);
    if (req.idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(req.idempotencyKey)) {
      throw new ValidationError('Idempotency-Key must be 1 to 256 printable ASCII characters without spaces');
    }
    if (req.qualifier !== undefined && !QUALIFIER.test(req.qualifier)) {
      throw new ValidationError(`qualifier "${req.qualifier}" is invalid`);
    }
  }

  async acceptEvent(req: AcceptRequest): Promise<AcceptResult> {
    this.validate(req);
    const key = req.idempotencyKey;
    // Keys are scoped to the caller and the function.
    const eventId = key
      ? idempotentEventId(req.caller ?? '', req.namespace, req.function, key)
      : req.requestId;
    const requestId = key ? derivedRequestId(eventId) : req.requestId;
    return this.publish(req, eventId, requestId);
  }

  /**
   * Publishes an event with an explicit de-duplication id (destinations use the source message,
   * redrive the dead letter) — validation as for acceptEvent.
   */
  async publishWithId(
    req: Omit<AcceptRequest, 'requestId' | 'idempotencyKey'>,
    eventId: string,
  ): Promise<AcceptResult> {
    const requestId = derivedRequestId(eventId);
    this.validate({ ...req, requestId });
    return this.publish({ ...req, requestId }, eventId, requestId);
  }

  /**
   * The gateway's AsyncQueue contract (`enqueue(inv): Promise<void>`), a drop-in. Prefer
   * `acceptFromGateway`, whose result carries the request id to answer with (it differs from
   * the call's own id when an Idempotency-Key was sent).
   */
  async enqueue(inv: GatewayAsyncInvocation): Promise<void> {
    await this.acceptFromGateway(inv);
  }

  /** `acceptEvent` from the gateway's `AsyncInvocation`. */
  acceptFromGateway(inv: GatewayAsyncInvocation): Promise<AcceptResult> {
    const t = inv.traceHeaders;
    return this.acceptEvent({
      namespace: inv.target.namespace,
      function: inv.target.function,
      ...(inv.target.qualified ? { qualifier: inv.target.qualifier } : {}),
      payload: inv.payload,
      requestId: inv.requestId,
      ...(inv.idempotencyKey ? { idempotencyKey: inv.idempotencyKey } : {}),
      ...(inv.caller ? { caller: inv.caller } : {}),
      ...(t.traceparent ? { traceparent: t.traceparent } : {}),
      ...(t.tracestate ? { tracestate: t.tracestate } : {}),
      ...(t['x-amzn-trace-id'] ? { amznTrace: t['x-amzn-trace-id'] } : {}),
    });
  }

  private async publish(req: AcceptRequest, eventId: string, requestId: string): Promise<AcceptResult> {
    const trace: Record<string, string> = {};
    if (req.traceparent) {
      trace.traceparent = req.traceparent;
      if (req.tracestate) trace.tracestate = req.tracestate;
    } else propagation.inject(context.active(), trace);
    const ev: Omit<AsyncEvent, 'payload'> = {
      eventId,
      requestId,
      enqueuedAt: this.now(),
      attempt: 1,
      ...(req.qualifier ? { qualifier: req.qualifier } : {}),
      ...(req.idempotencyKey ? { idempotencyKey: req.idempotencyKey } : {}),
      ...(trace.traceparent ? { traceparent: safeHeaderValue(trace.traceparent, 256) } : {}),
      ...(trace.tracestate ? { tracestate: safeHeaderValue(trace.tracestate, 512) } : {}),
      ...(req.amznTrace ? { amznTrace: safeHeaderValue(req.amznTrace, 256) } : {}),
    };
    const headers = eventHeaders(ev);
    await this.deps.backlog?.admit(req.namespace, req.function);
    let ack;
    try {
      ack = await this.deps.js.publish(this.deps.subjects.async(req.namespace, req.function), req.payload, {
        msgID: eventId,
        headers,
        timeout: this.deps.publishTimeoutMs ?? 5000,
      });
    } catch (cause) {
      throw new EnqueueFailedError(`the event could not be stored: ${(cause as Error).message}`, { cause });
    }
    if (!ack.duplicate) {
      this.deps.backlog?.accepted(req.namespace, req.function);
      const version = req.qualifier ?? '$LATEST';
      this.deps.metrics?.received.inc({ namespace: req.namespace, function: req.function, version });
    }
    return { requestId, eventId, seq: ack.seq, duplicate: ack.duplicate };
  }
}

/** A fresh request id (for callers without one). */
export function newRequestId(): string {
  return randomUUID();
}
