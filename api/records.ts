import { LATEST, functionArn } from './naming.js';

/**
 * Lambda's invocation record (lambda.md §5): what success and failure destinations receive, what
 * the gateway's dead-letter stream stores and what an event-source mapping sends to its
 * `onFailure` for a queue record; and the stream failure record (lambda.md §6) a stream mapping
 * sends for a range of records. Built by the pure functions below — the gateway's async pipeline
 * and the poller both — so each shape is written and tested once.
 */
export type Condition = 'Success' | 'RetriesExhausted' | 'EventAgeExceeded' | 'ZeroReservedConcurrency';
export type FailureCondition = Exclude<Condition, 'Success'>;
/** Why a stream mapping gave up on a range of records. */
export type StreamFailureCondition = 'RetryAttemptsExhausted' | 'RecordAgeExceeded';

export interface InvocationRecord {
  version: '1.0';
  timestamp: string;
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: Condition;
    approximateInvokeCount: number;
  };
  requestPayload: unknown;
  responseContext?: ResponseContext;
  responsePayload?: unknown;
}

export interface ResponseContext {
  statusCode: number;
  /** Absent when no version ran (the platform answered for it: throttled, unreachable). */
  executedVersion?: string;
  functionError?: string;
}

/** What the function (or the platform for it) answered on the last attempt. */
export interface RecordResponse {
  statusCode: number;
  /** Absent when no version ran (the platform answered for it: throttled, unreachable). */
  executedVersion?: string;
  /** `Unhandled` for function errors (timeouts included); absent on success. */
  functionError?: string;
  payload?: Buffer;
}

export interface RecordInput {
  timestamp: Date;
  region: string;
  namespace: string;
  function: string;
  /** The qualifier as invoked; the ARN is always qualified (`$LATEST` when none was given). */
  qualifier?: string;
  requestId: string;
  condition: Condition;
  approximateInvokeCount: number;
  requestPayload: Buffer;
  /** Absent when the function never answered (ZeroReservedConcurrency, age expired while throttled). */
  response?: RecordResponse;
}

/** The function a record is about, and the qualifier as invoked (the ARN is always qualified). */
type RecordSubject = Pick<RecordInput, 'region' | 'namespace' | 'function' | 'qualifier'>;

const arnOf = (i: RecordSubject): string =>
  functionArn(i.region, i.namespace, i.function, i.qualifier ?? LATEST);

function responseContextOf(r: RecordResponse): ResponseContext {
  return {
    statusCode: r.statusCode,
    ...(r.executedVersion !== undefined ? { executedVersion: r.executedVersion } : {}),
    ...(r.functionError ? { functionError: r.functionError } : {}),
  };
}

/**
 * A payload as a record field: the JSON value when it parses, else the text. An empty body is
 * `null` (a handler that returned nothing).
 */
export function payloadValue(p: Buffer): unknown {
  if (p.length === 0) return null;
  const text = p.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Builds the record; key order follows Lambda's. */
export function buildRecord(i: RecordInput): InvocationRecord {
  const record: InvocationRecord = {
    version: '1.0',
    timestamp: i.timestamp.toISOString(),
    requestContext: {
      requestId: i.requestId,
      functionArn: arnOf(i),
      condition: i.condition,
      approximateInvokeCount: i.approximateInvokeCount,
    },
    requestPayload: payloadValue(i.requestPayload),
  };
  if (i.response) {
    record.responseContext = responseContextOf(i.response);
    if (i.response.payload !== undefined) record.responsePayload = payloadValue(i.response.payload);
  }
  return record;
}

/** Where a stream mapping's failed range sits (Kinesis' shape, under `NatsStreamBatchInfo`). */
export interface StreamBatchInfo {
  /** The mapping's subject filter (`>` for the whole stream). */
  shardId: string;
  startSequenceNumber: string;
  endSequenceNumber: string;
  approximateArrivalOfFirstRecord: string;
  approximateArrivalOfLastRecord: string;
  batchSize: number;
  streamArn: string;
}

/** The stream failure record (lambda.md §6): the range of records, not their payloads. */
export interface StreamFailureRecord {
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: StreamFailureCondition;
    approximateInvokeCount: number;
  };
  responseContext?: ResponseContext;
  responsePayload?: unknown;
  version: '1.0';
  timestamp: string;
  NatsStreamBatchInfo: StreamBatchInfo;
}

export interface StreamFailureInput extends RecordSubject {
  timestamp: Date;
  requestId: string;
  condition: StreamFailureCondition;
  approximateInvokeCount: number;
  /** The last attempt's answer, when there was one. */
  response?: RecordResponse;
  batch: StreamBatchInfo;
}

/** Builds the stream failure record; key order follows Lambda's. */
export function buildStreamFailureRecord(i: StreamFailureInput): StreamFailureRecord {
  const record: StreamFailureRecord = {
    requestContext: {
      requestId: i.requestId,
      functionArn: arnOf(i),
      condition: i.condition,
      approximateInvokeCount: i.approximateInvokeCount,
    },
    version: '1.0',
    timestamp: i.timestamp.toISOString(),
    NatsStreamBatchInfo: i.batch,
  };
  if (!i.response) return record;
  const { requestContext, ...rest } = record;
  return {
    requestContext,
    responseContext: responseContextOf(i.response),
    ...(i.response.payload !== undefined ? { responsePayload: payloadValue(i.response.payload) } : {}),
    ...rest,
  };
}

/** How a payload is embedded in an encoded record. */
export type PayloadFormat = 'json' | 'text' | 'empty';

/** A payload's JSON text: its own bytes when it is valid UTF-8 JSON (exact, big numbers kept), else a JSON string. */
function rawJson(p: Buffer): { raw: Buffer; format: PayloadFormat } {
  if (p.length === 0) return { raw: Buffer.from('null'), format: 'empty' };
  const text = p.toString('utf8');
  try {
    JSON.parse(text);
    if (Buffer.byteLength(text) === p.length) return { raw: p, format: 'json' };
  } catch {
    // not JSON: embedded as a string
  }
  return { raw: Buffer.from(JSON.stringify(text)), format: 'text' };
}

export interface EncodedRecord {
  body: Buffer;
  /** Where the request payload sits in `body` (a redrive takes the original event from there). */
  payloadStart: number;
  payloadLength: number;
  payloadFormat: PayloadFormat;
  /** The response payload was replaced by a marker to keep the record under the size bound. */
  truncated: boolean;
}

/**
 * Encodes the record with the request and response payloads embedded byte for byte (no parse
 * and re-serialize, so large integers and key order survive). When the record would exceed
 * `maxBytes`, `responsePayload` is replaced by a short marker so the record still fits
 * everywhere it must go.
 */
export function encodeRecord(i: RecordInput, maxBytes: number): EncodedRecord {
  const shape = buildRecord({ ...i, requestPayload: Buffer.alloc(0) });
  const head = Buffer.from(
    JSON.stringify({
      version: shape.version,
      timestamp: shape.timestamp,
      requestContext: shape.requestContext,
    }).slice(0, -1) + ',"requestPayload":',
  );
  const req = rawJson(i.requestPayload);
  const parts: Buffer[] = [head, req.raw];
  if (shape.responseContext)
    parts.push(Buffer.from(`,"responseContext":${JSON.stringify(shape.responseContext)}`));
  const before = parts.reduce((n, b) => n + b.length, 0);
  let truncated = false;
  if (i.response?.payload !== undefined) {
    let resp = rawJson(i.response.payload).raw;
    if (before + resp.length + 22 > maxBytes) {
      truncated = true;
      resp = Buffer.from(
        JSON.stringify({
          errorType: 'Sluice.ResponseTruncated',
          errorMessage: `The response payload (${i.response.payload.length} bytes) was dropped: the record must stay under ${maxBytes} bytes`,
        }),
      );
    }
    parts.push(Buffer.from(',"responsePayload":'), resp);
  }
  parts.push(Buffer.from('}'));
  return {
    body: Buffer.concat(parts),
    payloadStart: head.length,
    payloadLength: req.raw.length,
    payloadFormat: req.format,
    truncated,
  };
}

/** The original event bytes from an encoded record. */
export function payloadFromRecord(
  body: Buffer,
  start: number,
  length: number,
  format: PayloadFormat,
): Buffer {
  const raw = body.subarray(start, start + length);
  if (format === 'empty') return Buffer.alloc(0);
  if (format === 'json') return Buffer.from(raw);
  return Buffer.from(JSON.parse(raw.toString('utf8')) as string, 'utf8');
}
