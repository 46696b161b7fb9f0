import { createHash } from 'node:crypto';

/**
 * One message read from a JetStream stream, detached from the client library so record shaping,
 * filtering and batching are pure functions of plain data.
 */
export interface SourceMessage {
  stream: string;
  consumer: string;
  subject: string;
  /** Stream sequence: the stable identity of the message. */
  seq: number;
  /** How often the server delivered it (1 on the first delivery). */
  deliveryCount: number;
  /** When the stream stored it (ms since the epoch). */
  timestampMs: number;
  /** Headers; a header may repeat. */
  headers: Record<string, string[]>;
  data: Uint8Array;
}

/** What shaping needs beyond the message. */
export interface RecordContext {
  region: string;
  /** The mapping's namespace: the account field of ARNs. */
  namespace: string;
  /** When this delivery reached the poller (ms). */
  receivedAtMs: number;
}

export type RecordFormat = 'raw' | 'sqs';

/** A record shaped exactly like one of an SQS event's `Records`. */
export interface SqsRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  attributes: Record<string, string>;
  messageAttributes: Record<
    string,
    { stringValue: string; stringListValues: string[]; binaryListValues: string[]; dataType: 'String' }
  >;
  md5OfBody: string;
  eventSource: 'aws:sqs';
  eventSourceARN: string;
  awsRegion: string;
}

/** A record carrying a JetStream message as it is (data base64), Kinesis-like in its identity. */
export interface RawRecord {
  eventSource: 'sluice:nats';
  eventSourceARN: string;
  eventID: string;
  awsRegion: string;
  nats: {
    stream: string;
    consumer: string;
    subject: string;
    /** The stream sequence as a decimal string; the item identifier of partial batch responses. */
    sequenceNumber: string;
    /** Seconds since the epoch, with milliseconds, like Kinesis' approximateArrivalTimestamp. */
    approximateArrivalTimestamp: number;
    deliveryCount: number;
    headers: Record<string, string[]>;
    data: string;
  };
}

export type ShapedRecord = SqsRecord | RawRecord;

/** Headers JetStream itself sets; never shown to functions as message attributes. */
const INTERNAL_HEADER = /^nats-/i;

/** A stable UUID (version-5 layout) for a name, so redeliveries keep their messageId. */
export function stableUuid(name: string): string {
  const h = createHash('sha1').update(`sluice:${name}`).digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x50;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export function streamArn(kind: 'sqs' | 'nats', region: string, namespace: string, stream: string): string {
  return kind === 'sqs'
    ? `arn:aws:sqs:${region}:${namespace}:${stream}`
    : `arn:aws:nats:${region}:${namespace}:stream/${stream}`;
}

/** The messageId of a message in the SQS format: one per stream message, the same on every delivery. */
export function sqsMessageId(m: Pick<SourceMessage, 'stream' | 'seq'>): string {
  return stableUuid(`${m.stream}/${m.seq}`);
}

export function sqsRecord(m: SourceMessage, ctx: RecordContext): SqsRecord {
  const body = Buffer.from(m.data).toString('utf8');
  const messageAttributes: SqsRecord['messageAttributes'] = {};
  for (const [k, values] of Object.entries(m.headers)) {
    if (INTERNAL_HEADER.test(k) || values.length === 0) continue;
    messageAttributes[k] = {
      stringValue: values.join(','),
      stringListValues: [],
      binaryListValues: [],
      dataType: 'String',
    };
  }
  const attributes: Record<string, string> = {
    ApproximateReceiveCount: String(m.deliveryCount),
    SentTimestamp: String(m.timestampMs),
    SenderId: first(m.headers, 'Sluice-Sender-Id') ?? 'sluice',
    ApproximateFirstReceiveTimestamp: String(m.deliveryCount === 1 ? ctx.receivedAtMs : m.timestampMs),
  };
  const trace = first(m.headers, 'X-Amzn-Trace-Id');
  if (trace) attributes.AWSTraceHeader = trace;
  return {
    messageId: sqsMessageId(m),
    receiptHandle: Buffer.from(`${m.stream}/${m.consumer}/${m.seq}/${m.deliveryCount}`).toString('base64'),
    body,
    attributes,
    messageAttributes,
    md5OfBody: createHash('md5').update(body, 'utf8').digest('hex'),
    eventSource: 'aws:sqs',
    eventSourceARN: streamArn('sqs', ctx.region, ctx.namespace, m.stream),
    awsRegion: ctx.region,
  };
}

export function rawRecord(m: SourceMessage, ctx: RecordContext): RawRecord {
  return {
    eventSource: 'sluice:nats',
    eventSourceARN: streamArn('nats', ctx.region, ctx.namespace, m.stream),
    eventID: `${m.stream}:${m.seq}`,
    awsRegion: ctx.region,
    nats: {
      stream: m.stream,
      consumer: m.consumer,
      subject: m.subject,
      sequenceNumber: String(m.seq),
      approximateArrivalTimestamp: m.timestampMs / 1000,
      deliveryCount: m.deliveryCount,
      headers: m.headers,
      data: Buffer.from(m.data).toString('base64'),
    },
  };
}

export function shapeRecord(format: RecordFormat, m: SourceMessage, ctx: RecordContext): ShapedRecord {
  return format === 'sqs' ? sqsRecord(m, ctx) : rawRecord(m, ctx);
}

/** The `itemIdentifier` a function names in `batchItemFailures` for this message. */
export function itemIdentifier(format: RecordFormat, m: Pick<SourceMessage, 'stream' | 'seq'>): string {
  return format === 'sqs' ? sqsMessageId(m) : String(m.seq);
}

/**
 * What filter patterns see (lambda.md §6: `body` for SQS, decoded `data` for streams). A body
 * that parses as JSON is matched as JSON; otherwise as a string.
 */
export function filterView(format: RecordFormat, m: SourceMessage): Record<string, unknown> {
  const text = Buffer.from(m.data).toString('utf8');
  const value = parseJson(text);
  const headers = Object.fromEntries(
    Object.entries(m.headers).map(([k, v]) => [k, v.length === 1 ? v[0] : v]),
  );
  return format === 'sqs'
    ? { body: value, messageAttributes: headers, subject: m.subject }
    : { data: value, headers, subject: m.subject };
}

function parseJson(text: string): unknown {
  const t = text.trimStart();
  if (!t.startsWith('{') && !t.startsWith('[')) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function first(headers: Record<string, string[]>, name: string): string | undefined {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  return key ? headers[key]?.[0] : undefined;
}

/** The invocation payload of a batch: `{"Records": [...]}` for both formats. */
export function eventOf(records: ShapedRecord[]): { Records: ShapedRecord[] } {
  return { Records: records };
}

/** Bytes the `{"Records":[...]}` envelope adds around its records (besides one comma between each). */
export const ENVELOPE_BYTES = Buffer.byteLength('{"Records":[]}');
