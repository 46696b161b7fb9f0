import { propagation, ROOT_CONTEXT, SpanKind, trace, type Link } from '@opentelemetry/api';
import { JetStreamApiError, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { LATEST } from '../../api/naming.js';
import type { InvocationOutcome } from '../../api/outcomes.js';
import {
  buildRecord,
  buildStreamFailureRecord,
  type InvocationRecord,
  type RecordResponse,
  type StreamFailureCondition,
  type StreamFailureRecord,
} from '../../api/records.js';
import { SluiceError } from '../../lib/errors.js';
import { AccountNotReadyError, type TenantJetStream, type TenantNats } from '../../lib/nats/tenants.js';
import { inSpan } from '../../lib/telemetry.js';
import type { InvokeResult } from '../invoker.js';
import type { MappingConfig } from '../mapping.js';
import { classifyResult, type BatchOutcome } from '../outcome.js';
import {
  eventOf,
  itemIdentifier,
  shapeRecord,
  stableUuid,
  streamArn,
  type ShapedRecord,
  type SourceMessage,
} from '../records.js';
import type { SourceDeps } from './source.js';

/** The consumer a backlog was asked of does not exist (an error, never "infinite backlog"). */
export class ConsumerMissingError extends SluiceError {
  override readonly name = 'ConsumerMissingError';
}

/** The mapping's stream is not in its namespace's account (never created, or another account's). */
export class StreamNotFoundError extends SluiceError {
  override readonly name = 'StreamNotFoundError';
}

/** Throws StreamNotFoundError unless the stream exists in the account `jsm` works in. */
export async function assertStream(jsm: JetStreamManager, stream: string, namespace: string): Promise<void> {
  try {
    await jsm.streams.info(stream);
  } catch (err) {
    if (isNotFound(err)) {
      throw new StreamNotFoundError(
        `stream ${stream} not found in the NATS account of namespace ${namespace}`,
        {
          cause: err,
        },
      );
    }
    throw err;
  }
}

/**
 * Runs a finalizer's cleanup in the namespace's account; a namespace without one (never
 * created, or already deleted with the namespace) has nothing left to clean.
 */
export async function inTenantForCleanup(
  tenants: TenantNats,
  namespace: string,
  fn: (t: TenantJetStream) => Promise<void>,
): Promise<void> {
  let t: TenantJetStream;
  try {
    t = await tenants.acquire(namespace);
  } catch (err) {
    if (err instanceof AccountNotReadyError) return;
    throw err;
  }
  try {
    await fn(t);
  } finally {
    t.release();
  }
}

export function isNotFound(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.code === 404 || /not found/i.test(err.message);
  return err instanceof Error && /not found/i.test(err.message);
}

/** Messages waiting in a consumer: not yet delivered plus delivered and not yet acknowledged. */
/**
 * Messages a consumer has not yet delivered (num_pending). The autoscaler uses this: messages
 * delivered and being run are already in the gateways' in-flight counts, so adding
 * num_ack_pending would count each running call twice.
 */
export async function consumerWaiting(
  jsm: JetStreamManager,
  stream: string,
  consumer: string,
): Promise<number> {
  try {
    return (await jsm.consumers.info(stream, consumer)).num_pending;
  } catch (err) {
    if (isNotFound(err))
      throw new ConsumerMissingError(`consumer ${stream}/${consumer} not found`, { cause: err });
    throw err;
  }
}

export async function consumerBacklog(
  jsm: JetStreamManager,
  stream: string,
  consumer: string,
): Promise<number> {
  try {
    const info = await jsm.consumers.info(stream, consumer);
    return info.num_pending + info.num_ack_pending;
  } catch (err) {
    if (isNotFound(err))
      throw new ConsumerMissingError(`consumer ${stream}/${consumer} not found`, { cause: err });
    throw err;
  }
}

export function toSourceMessage(m: JsMsg, consumer: string): SourceMessage {
  const headers: Record<string, string[]> = {};
  for (const k of m.headers?.keys() ?? []) headers[k] = m.headers?.values(k) ?? [];
  return {
    stream: m.info.stream,
    consumer,
    subject: m.subject,
    seq: m.seq,
    deliveryCount: m.info.deliveryCount,
    // Whole milliseconds, as SQS's SentTimestamp (the server's clock has nanoseconds).
    timestampMs: Math.floor(Number(m.info.timestampNanos) / 1_000_000),
    headers,
    data: m.data,
  };
}

/** Acks, naks and progress acks on a connection that is gone throw; the server redelivers anyway. */
export function quietly(f: () => void): void {
  try {
    f();
  } catch {
    // the connection closed: unacknowledged records come back after the ack wait
  }
}

export const backoffMs = (attempt: number, base: number, max: number): number =>
  Math.min(max, base * 2 ** Math.max(0, attempt - 1));

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A message shaped for delivery. */
export interface Prepared {
  msg: SourceMessage;
  record: ShapedRecord;
  json: string;
  size: number;
  id: string;
}

export interface BatchResult {
  outcome: BatchOutcome;
  result: InvokeResult;
  records: ShapedRecord[];
  ids: string[];
}

/** Shapes, invokes and classifies batches for one mapping, recording metrics. */
export class BatchInvoker {
  constructor(
    private readonly m: MappingConfig,
    private readonly deps: SourceDeps,
  ) {}

  /** Shapes a message once: its record, serialized record (for sizes and payloads) and item identifier. */
  prepare(msg: SourceMessage, receivedAtMs = Date.now()): Prepared {
    const ctx = { region: this.deps.tuning.region, namespace: this.m.ref.namespace, receivedAtMs };
    const record = shapeRecord(this.m.recordFormat, msg, ctx);
    const json = JSON.stringify(record);
    return { msg, record, json, size: Buffer.byteLength(json), id: itemIdentifier(this.m.recordFormat, msg) };
  }

  async invoke(items: Prepared[], signal?: AbortSignal): Promise<BatchResult> {
    const records = items.map((i) => i.record);
    const ids = items.map((i) => i.id);
    const payload = Buffer.from(`{"Records":[${items.map((i) => i.json).join(',')}]}`);
    const result = await this.traced(items, (headers) =>
      this.deps.invoker.invoke({ target: this.m.target, payload, ...(headers ? { headers } : {}) }, signal),
    );
    const outcome = classifyResult(result, this.m.reportBatchItemFailures, new Set(ids));
    const { namespace, name } = this.m.ref;
    const fn = this.m.target.function;
    this.deps.metrics.batches.inc({ namespace, mapping: name, function: fn, outcome: outcome.kind });
    this.deps.metrics.invocations.inc({
      type: 'esm',
      namespace,
      function: fn,
      version: (result.kind === 'success' && result.executedVersion) || this.m.target.qualifier || LATEST,
      outcome: invocationOutcome(result),
    });
    this.deps.report(outcome.kind === 'success' ? 'OK' : describeOutcome(outcome));
    return { outcome, result, records, ids };
  }

  /**
   * One consumer span per batch: a child of the first traced record's context, linked to the other
   * records' contexts; the call carries the span's context on. With telemetry off (no propagator)
   * the first traced record's headers travel on unchanged.
   */
  private async traced(
    items: Prepared[],
    call: (headers: Record<string, string> | undefined) => Promise<InvokeResult>,
  ): Promise<InvokeResult> {
    const first = traceHeaders(items);
    const tracer = this.deps.tracer;
    if (!tracer) return call(first);
    const parent = first ? propagation.extract(ROOT_CONTEXT, first) : ROOT_CONTEXT;
    const src = this.m.source;
    const span = tracer.startSpan(
      `${src.kind === 'schedule' ? 'schedule' : src.stream} process`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.operation.type': 'process',
          'messaging.batch.message_count': items.length,
          ...(src.kind === 'schedule' ? {} : { 'messaging.destination.name': src.subject ?? src.stream }),
          'faas.invoked_name': this.m.target.function,
          'faas.invoked_provider': 'sluice',
          'sluice.namespace': this.m.ref.namespace,
          'sluice.mapping': this.m.ref.name,
        },
      },
      parent,
    );
    // Links cost a parse per record: only for a span that is exported.
    if (span.isRecording()) span.addLinks(recordLinks(items));
    const out: Record<string, string> = {};
    propagation.inject(trace.setSpan(parent, span), out);
    return inSpan(
      span,
      async () => {
        const result = await call(out.traceparent ? out : first);
        span.setAttribute('sluice.outcome', result.kind);
        return result;
      },
      (r) => (r.kind === 'success' ? undefined : r.kind),
    );
  }

  /** Lambda's invocation record (api/records.ts, the async destinations' shape) for one record of a queue. */
  queueFailureRecord(msg: SourceMessage, record: ShapedRecord, last?: BatchResult): InvocationRecord {
    const attempts = msg.deliveryCount;
    const response = responseOf(last);
    return buildRecord({
      ...this.recordSubject(),
      timestamp: new Date(),
      requestId: stableUuid(`${this.m.ref.uid}/${msg.stream}/${msg.seq}/${attempts}`),
      condition: 'RetriesExhausted',
      approximateInvokeCount: attempts,
      requestPayload: Buffer.from(JSON.stringify(eventOf([record]))),
      ...(response ? { response } : {}),
    });
  }

  /** The stream failure record (api/records.ts; lambda.md §6, Kinesis' shape under NatsStreamBatchInfo). */
  streamFailureRecord(
    msgs: SourceMessage[],
    condition: StreamFailureCondition,
    attempts: number,
    last?: BatchResult,
  ): StreamFailureRecord {
    const first = msgs[0];
    const lastMsg = msgs[msgs.length - 1];
    const src = this.m.source;
    const response = responseOf(last);
    return buildStreamFailureRecord({
      ...this.recordSubject(),
      timestamp: new Date(),
      requestId: stableUuid(`${this.m.ref.uid}/${first?.seq}/${lastMsg?.seq}/${condition}`),
      condition,
      approximateInvokeCount: attempts,
      ...(response ? { response } : {}),
      batch: {
        shardId: src.kind === 'schedule' ? '' : (src.subject ?? '>'),
        startSequenceNumber: String(first?.seq ?? ''),
        endSequenceNumber: String(lastMsg?.seq ?? ''),
        approximateArrivalOfFirstRecord: new Date(first?.timestampMs ?? 0).toISOString(),
        approximateArrivalOfLastRecord: new Date(lastMsg?.timestampMs ?? 0).toISOString(),
        batchSize: msgs.length,
        streamArn: streamArn('nats', this.deps.tuning.region, this.m.ref.namespace, first?.stream ?? ''),
      },
    });
  }

  private recordSubject(): { region: string; namespace: string; function: string; qualifier?: string } {
    const t = this.m.target;
    return {
      region: this.deps.tuning.region,
      namespace: t.namespace,
      function: t.function,
      ...(t.qualifier ? { qualifier: t.qualifier } : {}),
    };
  }
}

/** The trace context of the batch's first traced record travels on to the function (W3C headers). */
export function traceHeaders(items: Prepared[]): Record<string, string> | undefined {
  for (const i of items) {
    const h = i.msg.headers;
    const key = Object.keys(h).find((k) => k.toLowerCase() === 'traceparent');
    const parent = key ? h[key]?.[0] : undefined;
    if (!parent) continue;
    const stateKey = Object.keys(h).find((k) => k.toLowerCase() === 'tracestate');
    const state = stateKey ? h[stateKey]?.[0] : undefined;
    return { traceparent: parent, ...(state ? { tracestate: state } : {}) };
  }
  return undefined;
}

/** Links to every traced record's context (OTel messaging: a batch span links its messages), at most 128. */
export function recordLinks(items: Prepared[]): Link[] {
  const links: Link[] = [];
  for (const i of items) {
    if (links.length === 128) break;
    const h = i.msg.headers;
    const key = Object.keys(h).find((k) => k.toLowerCase() === 'traceparent');
    const tp = key ? h[key]?.[0] : undefined;
    if (!tp) continue;
    const sc = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, { traceparent: tp }));
    if (sc) links.push({ context: sc });
  }
  return links;
}

/** The last attempt's answer for a failure record: the function's, or the platform's status for it. */
function responseOf(last?: BatchResult): RecordResponse | undefined {
  if (!last) return undefined;
  const r = last.result;
  if (r.kind === 'success' || r.kind === 'function_error') {
    return {
      statusCode: 200,
      executedVersion: (r.kind === 'success' && r.executedVersion) || LATEST,
      ...(r.kind === 'function_error' ? { functionError: 'Unhandled' } : {}),
      payload: r.payload,
    };
  }
  return { statusCode: r.kind === 'throttled' ? 429 : (r.status ?? 500) };
}

function invocationOutcome(r: InvokeResult): InvocationOutcome {
  if (r.kind === 'function_error') return r.timedOut ? 'timeout' : 'function_error';
  return r.kind;
}

export function describeOutcome(o: BatchOutcome): string {
  switch (o.kind) {
    case 'success':
      return 'OK';
    case 'partial':
      return `PartialFailure: ${o.failed.length} record(s) reported failed`;
    case 'function_error':
      return `FunctionError: ${o.reason}`;
    case 'throttled':
      return `Throttled: ${o.reason}`;
    case 'error':
      return `InvokeError: ${o.reason}`;
    case 'rejected':
      return `Rejected: ${o.reason}`;
  }
}
