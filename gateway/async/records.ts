import { LATEST, functionArn } from '../../api/naming.js';

/**
 * Lambda's invocation record (lambda.md §5): what success and failure destinations receive and
 * what the dead-letter stream stores. Built by one pure function so the shape is tested once.
 */
export type Condition = 'Success' | 'RetriesExhausted' | 'EventAgeExceeded' | 'ZeroReservedConcurrency';
export type FailureCondition = Exclude<Condition, 'Success'>;

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
  responseContext?: {
    statusCode: number;
    executedVersion: string;
    functionError?: string;
  };
  responsePayload?: unknown;
}

/** What the function (or the platform for it) answered on the last attempt. */
export interface RecordResponse {
  statusCode: number;
  executedVersion: string;
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
      functionArn: functionArn(i.region, i.namespace, i.function, i.qualifier ?? LATEST),
      condition: i.condition,
      approximateInvokeCount: i.approximateInvokeCount,
    },
    requestPayload: payloadValue(i.requestPayload),
  };
  if (i.response) {
    record.responseContext = {
      statusCode: i.response.statusCode,
      executedVersion: i.response.executedVersion,
      ...(i.response.functionError ? { functionError: i.response.functionError } : {}),
    };
    if (i.response.payload !== undefined) record.responsePayload = payloadValue(i.response.payload);
  }
  return record;
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
