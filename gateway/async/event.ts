import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';

/**
 * Headers carried by every async event message. They travel with the event through scheduled
 * retries and into the dead-letter stream, so everything the dispatcher needs is on the message.
 */
export const H = {
  /** De-duplication id of the event (`Nats-Msg-Id` of the first publish). */
  eventId: 'Sluice-Event-Id',
  requestId: 'Sluice-Request-Id',
  /** The qualifier as invoked (version or alias); absent for unqualified invokes. */
  qualifier: 'Sluice-Qualifier',
  /** When the event was first accepted (ms since the epoch): the origin of its age. */
  enqueuedAt: 'Sluice-Enqueued-At',
  /** The invocation attempt this message is for, 1-based (a scheduled retry carries 2, then 3). */
  attempt: 'Sluice-Attempt',
  idempotencyKey: 'Sluice-Idempotency-Key',
  /** The previous attempt's function error (base64 JSON of LastError), for EventAgeExceeded records. */
  lastError: 'Sluice-Last-Error',
  /** Set on redriven events: the dead-letter sequence they came from. */
  redrivenFrom: 'Sluice-Redriven-From',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  amznTrace: 'X-Amzn-Trace-Id',
} as const;

/** Headers on dead letters besides the event's own. */
export const DLQ_H = {
  /** Why the event is here: a record condition, or DestinationDeliveryFailed. */
  reason: 'Sluice-Dlq-Reason',
  /** The record's condition (Success for a success record whose destination failed). */
  condition: 'Sluice-Dlq-Condition',
  /** What went wrong, first 1 KB (like Lambda's DLQ ErrorMessage attribute). */
  error: 'Sluice-Dlq-Error',
  /** The destination that could not be reached, when that is the reason. */
  destination: 'Sluice-Dlq-Destination',
  /** When the dead letter was written (ms since the epoch). */
  deadAt: 'Sluice-Dlq-Time',
} as const;

/** Headers NATS adds that must not be copied onto a republished message. */
const NATS_OWNED = /^Nats-/i;

/** What the last failed attempt answered, kept for a later EventAgeExceeded record. */
export interface LastError {
  executedVersion: string;
  errorType: string;
  /** The error body (base64), dropped when large. */
  payload?: string;
}

/** One async event as read from a message. */
export interface AsyncEvent {
  eventId: string;
  requestId: string;
  qualifier?: string;
  enqueuedAt: number;
  attempt: number;
  idempotencyKey?: string;
  traceparent?: string;
  tracestate?: string;
  amznTrace?: string;
  lastError?: LastError;
  redrivenFrom?: string;
  payload: Buffer;
}

function get(h: MsgHdrs | undefined, name: string): string | undefined {
  const v = h?.get(name);
  return v === undefined || v === '' ? undefined : v;
}

function parseLastError(raw: string | undefined): LastError | undefined {
  if (!raw) return undefined;
  try {
    const v = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as LastError;
    return typeof v.errorType === 'string' && typeof v.executedVersion === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads an event from a message. Missing headers (a message published by hand) get safe
 * values: the stream sequence as id, first attempt, enqueued at the message's own time.
 */
export function eventOf(
  h: MsgHdrs | undefined,
  data: Uint8Array,
  fallback: { seq: number; timestampMs: number },
): AsyncEvent {
  const eventId = get(h, H.eventId) ?? `seq-${fallback.seq}`;
  const attempt = Number(get(h, H.attempt) ?? '1');
  const enqueuedAt = Number(get(h, H.enqueuedAt) ?? fallback.timestampMs);
  const ev: AsyncEvent = {
    eventId,
    requestId: get(h, H.requestId) ?? eventId,
    enqueuedAt: Number.isFinite(enqueuedAt) ? enqueuedAt : fallback.timestampMs,
    attempt: Number.isInteger(attempt) && attempt >= 1 ? attempt : 1,
    payload: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  };
  const optional: [keyof AsyncEvent, string][] = [
    ['qualifier', H.qualifier],
    ['idempotencyKey', H.idempotencyKey],
    ['traceparent', H.traceparent],
    ['tracestate', H.tracestate],
    ['amznTrace', H.amznTrace],
    ['redrivenFrom', H.redrivenFrom],
  ];
  for (const [key, name] of optional) {
    const v = get(h, name);
    if (v !== undefined) (ev as unknown as Record<string, string>)[key] = v;
  }
  const lastError = parseLastError(get(h, H.lastError));
  if (lastError) ev.lastError = lastError;
  return ev;
}

/** The headers of an event (what `eventOf` reads back). */
export function eventHeaders(ev: Omit<AsyncEvent, 'payload'>): MsgHdrs {
  const h = natsHeaders();
  h.set(H.eventId, ev.eventId);
  h.set(H.requestId, ev.requestId);
  h.set(H.enqueuedAt, String(ev.enqueuedAt));
  h.set(H.attempt, String(ev.attempt));
  if (ev.qualifier) h.set(H.qualifier, ev.qualifier);
  if (ev.idempotencyKey) h.set(H.idempotencyKey, ev.idempotencyKey);
  if (ev.traceparent) h.set(H.traceparent, ev.traceparent);
  if (ev.tracestate) h.set(H.tracestate, ev.tracestate);
  if (ev.amznTrace) h.set(H.amznTrace, ev.amznTrace);
  if (ev.redrivenFrom) h.set(H.redrivenFrom, ev.redrivenFrom);
  if (ev.lastError) h.set(H.lastError, Buffer.from(JSON.stringify(ev.lastError)).toString('base64'));
  return h;
}

/** A copy of `h` without the headers NATS owns (`Nats-Msg-Id`, scheduler headers, …). */
export function copyHeaders(h: MsgHdrs | undefined): MsgHdrs {
  const out = natsHeaders();
  if (!h) return out;
  for (const k of h.keys()) {
    if (NATS_OWNED.test(k)) continue;
    for (const v of h.values(k)) out.append(k, v);
  }
  return out;
}

/** Plain object of headers (for the dead-letters API). */
export function headersObject(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const k of h.keys()) out[k] = h.values(k).join(', ');
  return out;
}

/** A header value: printable ASCII, no CR/LF, bounded. */
export function safeHeaderValue(v: string, max = 1024): string {
  // eslint-disable-next-line no-control-regex
  return v.replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, max);
}
