import type { JetStreamClient, JetStreamManager, MsgRequest, StoredMsg } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import { NotFoundError, ValidationError, type Logger } from '../../lib/index.js';
import { copyHeaders, DLQ_H, eventOf, eventHeaders, H, headersObject, safeHeaderValue } from './event.js';
import type { AsyncMetrics } from './metrics.js';
import type { Subjects } from '../../api/nats-naming.js';
import { payloadFromRecord, type Condition, type PayloadFormat } from '../../api/records.js';

/** Why an event is in the dead-letter stream. */
export type DeadLetterReason =
  | Condition
  | 'ResourceNotFound'
  | 'RequestRejected'
  /** A record (success or failure) its destination did not accept. */
  | 'DestinationDeliveryFailed';

/** Where the original event sits in the stored record (so a redrive sends the exact bytes). */
const PAYLOAD_RANGE = 'Sluice-Payload-Range';
const PAYLOAD_FORMAT = 'Sluice-Payload-Format';

export interface DeadLetterWrite {
  namespace: string;
  function: string;
  /** The headers of the event message (copied onto the dead letter). */
  eventHeaders: MsgHdrs | undefined;
  record: Buffer;
  payloadStart: number;
  payloadLength: number;
  payloadFormat: PayloadFormat;
  reason: DeadLetterReason;
  condition: Condition;
  error?: string;
  destination?: string;
  /** De-duplication id (a redelivered source message writes the same dead letter once). */
  msgId: string;
  /** Metric labels. */
  version: string;
}

export interface DeadLetterSummary {
  seq: number;
  time: string;
  reason: string;
  condition: string;
  requestId: string;
  approximateInvokeCount?: number;
  error?: string;
  destination?: string;
}

export interface DeadLetter extends DeadLetterSummary {
  headers: Record<string, string>;
  record: unknown;
}

export interface DeadLetterPage {
  items: DeadLetterSummary[];
  /** Pass as `after` for the next page; absent on the last page. */
  next?: number;
  /** Dead letters of this function in total. */
  total: number;
}

export interface RedriveResult {
  redriven: { seq: number; requestId: string; eventSeq: number }[];
  failed: { seq: number; error: string }[];
}

export interface DeadLetterDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The dead-letter stream and the async stream (redrive target). */
  dlqStream: string;
  asyncStream: string;
  subjects: Subjects;
  metrics?: AsyncMetrics;
  log: Logger;
  /** Tries of a dead-letter write before giving up (the source event then stays un-acked). */
  writeAttempts?: number;
  writeBackoffMs?: number;
  now?: () => number;
}

const MAX_PAGE = 100;

function parseSeq(v: string | number): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new ValidationError(`sequence "${String(v)}" must be a positive integer`);
  return n;
}

/**
 * The dead-letter stream: writing dead letters (record as the body, the event's headers plus
 * why it is here), and listing, inspecting, redriving and purging them per function.
 */
export class DeadLetterQueue {
  private readonly now: () => number;

  constructor(private readonly deps: DeadLetterDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Writes a dead letter and resolves once JetStream stored it; retries, then throws. */
  async write(w: DeadLetterWrite): Promise<number> {
    const h = copyHeaders(w.eventHeaders);
    h.set(DLQ_H.reason, w.reason);
    h.set(DLQ_H.condition, w.condition);
    h.set(DLQ_H.deadAt, String(this.now()));
    h.set(PAYLOAD_RANGE, `${w.payloadStart}:${w.payloadLength}`);
    h.set(PAYLOAD_FORMAT, w.payloadFormat);
    if (w.error) h.set(DLQ_H.error, safeHeaderValue(w.error, 1024));
    if (w.destination) h.set(DLQ_H.destination, safeHeaderValue(w.destination, 512));
    const attempts = this.deps.writeAttempts ?? 5;
    let last: unknown;
    for (let i = 1; i <= attempts; i++) {
      try {
        const ack = await this.deps.js.publish(this.deps.subjects.dlq(w.namespace, w.function), w.record, {
          msgID: w.msgId,
          headers: h,
          timeout: 5000,
        });
        if (!ack.duplicate) {
          this.deps.metrics?.deadLetters.inc({
            namespace: w.namespace,
            function: w.function,
            version: w.version,
            reason: w.reason,
          });
        }
        return ack.seq;
      } catch (err) {
        last = err;
        this.deps.log.warn({ attempt: i, err: (err as Error).message }, 'dead-letter write failed');
        if (i < attempts)
          await new Promise((r) => setTimeout(r, (this.deps.writeBackoffMs ?? 250) * 2 ** (i - 1)));
      }
    }
    throw last instanceof Error ? last : new Error(String(last));
  }

  private summary(m: StoredMsg): DeadLetterSummary {
    const h = m.header;
    const get = (k: string): string | undefined => h.get(k) || undefined;
    let count: number | undefined;
    try {
      const rec = m.json<{ requestContext?: { approximateInvokeCount?: number } }>();
      count = rec.requestContext?.approximateInvokeCount;
    } catch {
      count = undefined;
    }
    const out: DeadLetterSummary = {
      seq: m.seq,
      time: m.time.toISOString(),
      reason: get(DLQ_H.reason) ?? 'unknown',
      condition: get(DLQ_H.condition) ?? 'unknown',
      requestId: get(H.requestId) ?? '',
    };
    if (count !== undefined) out.approximateInvokeCount = count;
    const error = get(DLQ_H.error);
    if (error) out.error = error;
    const destination = get(DLQ_H.destination);
    if (destination) out.destination = destination;
    return out;
  }

  private async next(subject: string, fromSeq: number): Promise<StoredMsg | null> {
    // STREAM.MSG.GET with next_by_subj: served by the stream leader (consistent), no consumer needed.
    const q = { seq: fromSeq, next_by_subj: subject } as unknown as MsgRequest;
    return this.deps.jsm.streams.getMessage(this.deps.dlqStream, q);
  }

  async count(namespace: string, fn: string): Promise<number> {
    const subject = this.deps.subjects.dlq(namespace, fn);
    const info = await this.deps.jsm.streams.info(this.deps.dlqStream, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  }

  /** A page of dead letters, oldest first, starting after sequence `after`. */
  async list(
    namespace: string,
    fn: string,
    opts: { after?: number; limit?: number } = {},
  ): Promise<DeadLetterPage> {
    const subject = this.deps.subjects.dlq(namespace, fn);
    const limit = Math.min(MAX_PAGE, Math.max(1, opts.limit ?? 50));
    const items: DeadLetterSummary[] = [];
    let seq = (opts.after ?? 0) + 1;
    let more = false;
    for (;;) {
      const m = await this.next(subject, seq);
      if (!m) break;
      if (items.length === limit) {
        more = true;
        break;
      }
      items.push(this.summary(m));
      seq = m.seq + 1;
    }
    const page: DeadLetterPage = { items, total: await this.count(namespace, fn) };
    if (more && items.length > 0) page.next = (items[items.length - 1] as DeadLetterSummary).seq;
    return page;
  }

  private async load(namespace: string, fn: string, seqIn: string | number): Promise<StoredMsg> {
    const seq = parseSeq(seqIn);
    const subject = this.deps.subjects.dlq(namespace, fn);
    const m = await this.deps.jsm.streams.getMessage(this.deps.dlqStream, { seq });
    if (!m || m.subject !== subject) {
      throw new NotFoundError(`Dead letter ${seq} of function ${namespace}/${fn} not found`);
    }
    return m;
  }

  /** One dead letter with its record and headers. */
  async get(namespace: string, fn: string, seq: string | number): Promise<DeadLetter> {
    const m = await this.load(namespace, fn, seq);
    let record: unknown;
    try {
      record = m.json();
    } catch {
      record = m.string();
    }
    return { ...this.summary(m), headers: headersObject(m.header), record };
  }

  async delete(namespace: string, fn: string, seq: string | number): Promise<void> {
    const m = await this.load(namespace, fn, seq);
    await this.deps.jsm.streams.deleteMessage(this.deps.dlqStream, m.seq, false);
  }

  /** Removes every dead letter of the function; returns how many. */
  async purge(namespace: string, fn: string): Promise<number> {
    const r = await this.deps.jsm.streams.purge(this.deps.dlqStream, {
      filter: this.deps.subjects.dlq(namespace, fn),
    });
    return r.purged;
  }

  /**
   * Sends dead letters back to the function's queue as new events (first attempt, age from
   * now, same request id), each removed from the dead-letter stream once JetStream stored the
   * event. A retried redrive of the same dead letter is de-duplicated. Without `seq`, every
   * dead letter present when the call started is redriven.
   */
  async redrive(namespace: string, fn: string, opts: { seq?: string | number } = {}): Promise<RedriveResult> {
    const result: RedriveResult = { redriven: [], failed: [] };
    if (opts.seq !== undefined) {
      await this.redriveOne(await this.load(namespace, fn, opts.seq), namespace, fn, result);
      return result;
    }
    const subject = this.deps.subjects.dlq(namespace, fn);
    const last = (await this.deps.jsm.streams.info(this.deps.dlqStream)).state.last_seq;
    let seq = 1;
    for (;;) {
      const m = await this.next(subject, seq);
      if (!m || m.seq > last) break;
      await this.redriveOne(m, namespace, fn, result);
      seq = m.seq + 1;
    }
    return result;
  }

  private async redriveOne(
    m: StoredMsg,
    namespace: string,
    fn: string,
    result: RedriveResult,
  ): Promise<void> {
    try {
      const [start, length] = (m.header.get(PAYLOAD_RANGE) || '').split(':').map(Number);
      const format = (m.header.get(PAYLOAD_FORMAT) || 'json') as PayloadFormat;
      const payload =
        start !== undefined && length !== undefined && Number.isFinite(start) && Number.isFinite(length)
          ? payloadFromRecord(Buffer.from(m.data), start, length, format)
          : Buffer.from(JSON.stringify(m.json<{ requestPayload?: unknown }>().requestPayload ?? null));
      const original = eventOf(m.header, new Uint8Array(), { seq: m.seq, timestampMs: m.time.getTime() });
      const eventId = `redrive:${this.deps.dlqStream}:${m.seq}`;
      const { lastError: _drop, ...rest } = original;
      const h = eventHeaders({
        ...rest,
        eventId,
        attempt: 1,
        enqueuedAt: this.now(),
        redrivenFrom: String(m.seq),
      });
      const ack = await this.deps.js.publish(this.deps.subjects.async(namespace, fn), payload, {
        msgID: eventId,
        headers: h,
        timeout: 5000,
      });
      await this.deps.jsm.streams.deleteMessage(this.deps.dlqStream, m.seq, false);
      result.redriven.push({ seq: m.seq, requestId: original.requestId, eventSeq: ack.seq });
    } catch (err) {
      this.deps.log.warn({ seq: m.seq, err: (err as Error).message }, 'redrive failed');
      result.failed.push({ seq: m.seq, error: (err as Error).message });
    }
  }
}
