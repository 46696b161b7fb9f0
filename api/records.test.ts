import { describe, expect, it } from 'vitest';
import {
  buildRecord,
  buildStreamFailureRecord,
  encodeRecord,
  payloadFromRecord,
  payloadValue,
  type RecordInput,
  type StreamFailureInput,
} from './records.js';

const base = (o: Partial<RecordInput> = {}): RecordInput => ({
  timestamp: new Date('2026-01-02T03:04:05.678Z'),
  region: 'sluice-local',
  namespace: 'shop',
  function: 'resize',
  requestId: 'req-1',
  condition: 'Success',
  approximateInvokeCount: 1,
  requestPayload: Buffer.from('{"order":42}'),
  ...o,
});

describe('buildRecord', () => {
  it.each([
    {
      name: 'success on $LATEST: qualified ARN, no functionError',
      input: base({
        response: { statusCode: 200, executedVersion: '$LATEST', payload: Buffer.from('{"ok":true}') },
      }),
      want: {
        version: '1.0',
        timestamp: '2026-01-02T03:04:05.678Z',
        requestContext: {
          requestId: 'req-1',
          functionArn: 'arn:aws:lambda:sluice-local:shop:function:resize:$LATEST',
          condition: 'Success',
          approximateInvokeCount: 1,
        },
        requestPayload: { order: 42 },
        responseContext: { statusCode: 200, executedVersion: '$LATEST' },
        responsePayload: { ok: true },
      },
    },
    {
      name: 'retries exhausted on an alias: functionError Unhandled, error body, invoke count',
      input: base({
        qualifier: 'prod',
        condition: 'RetriesExhausted',
        approximateInvokeCount: 3,
        response: {
          statusCode: 200,
          executedVersion: '7',
          functionError: 'Unhandled',
          payload: Buffer.from('{"errorType":"Error","errorMessage":"boom","trace":[]}'),
        },
      }),
      want: {
        version: '1.0',
        timestamp: '2026-01-02T03:04:05.678Z',
        requestContext: {
          requestId: 'req-1',
          functionArn: 'arn:aws:lambda:sluice-local:shop:function:resize:prod',
          condition: 'RetriesExhausted',
          approximateInvokeCount: 3,
        },
        requestPayload: { order: 42 },
        responseContext: { statusCode: 200, executedVersion: '7', functionError: 'Unhandled' },
        responsePayload: { errorType: 'Error', errorMessage: 'boom', trace: [] },
      },
    },
    {
      name: 'zero reserved concurrency: count 0, no responseContext or responsePayload',
      input: base({ condition: 'ZeroReservedConcurrency', approximateInvokeCount: 0 }),
      want: {
        version: '1.0',
        timestamp: '2026-01-02T03:04:05.678Z',
        requestContext: {
          requestId: 'req-1',
          functionArn: 'arn:aws:lambda:sluice-local:shop:function:resize:$LATEST',
          condition: 'ZeroReservedConcurrency',
          approximateInvokeCount: 0,
        },
        requestPayload: { order: 42 },
      },
    },
    {
      name: 'event age exceeded while throttled: no response',
      input: base({ condition: 'EventAgeExceeded', approximateInvokeCount: 0, qualifier: '3' }),
      want: {
        version: '1.0',
        timestamp: '2026-01-02T03:04:05.678Z',
        requestContext: {
          requestId: 'req-1',
          functionArn: 'arn:aws:lambda:sluice-local:shop:function:resize:3',
          condition: 'EventAgeExceeded',
          approximateInvokeCount: 0,
        },
        requestPayload: { order: 42 },
      },
    },
  ])('$name', ({ input, want }) => {
    const got = buildRecord(input);
    expect(got).toEqual(want);
    // Lambda's key order, so records diff cleanly against AWS's.
    expect(Object.keys(got)).toEqual(Object.keys(want));
  });
});

describe('payloadValue', () => {
  it.each([
    { name: 'JSON object', in: '{"a":1}', want: { a: 1 } },
    { name: 'JSON string', in: '"hi"', want: 'hi' },
    { name: 'JSON number', in: '42', want: 42 },
    { name: 'empty body is null', in: '', want: null },
    { name: 'text that is not JSON stays text', in: 'plain words', want: 'plain words' },
  ])('$name', ({ in: input, want }) => {
    expect(payloadValue(Buffer.from(input))).toEqual(want);
  });
});

describe('encodeRecord', () => {
  const failed = (payload: Buffer, request = Buffer.from('{"order":42}')) =>
    base({
      condition: 'RetriesExhausted',
      requestPayload: request,
      response: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled', payload },
    });
  it.each([
    { name: 'JSON payloads: same value as buildRecord', input: failed(Buffer.from('{"errorType":"E"}')) },
    {
      name: 'success with an empty response',
      input: base({ response: { statusCode: 200, executedVersion: '2', payload: Buffer.alloc(0) } }),
    },
    {
      name: 'text payload becomes a JSON string',
      input: failed(Buffer.from('oops'), Buffer.from('not json')),
    },
    {
      name: 'no response (ZeroReservedConcurrency)',
      input: base({ condition: 'ZeroReservedConcurrency', approximateInvokeCount: 0 }),
    },
  ])('$name', ({ input }) => {
    const enc = encodeRecord(input, 1_000_000);
    expect(JSON.parse(enc.body.toString())).toEqual(buildRecord(input));
    expect(enc.truncated).toBe(false);
  });

  it.each([
    {
      name: 'JSON with a 64-bit integer is kept byte for byte',
      payload: '{ "id": 12345678901234567890, "b": [1,2] }',
    },
    { name: 'a JSON string', payload: '"hi"' },
    { name: 'plain text', payload: 'plain words' },
    { name: 'empty body', payload: '' },
    { name: 'JSON null', payload: 'null' },
  ])('original payload recoverable: $name', ({ payload }) => {
    const enc = encodeRecord(base({ requestPayload: Buffer.from(payload) }), 1_000_000);
    const back = payloadFromRecord(enc.body, enc.payloadStart, enc.payloadLength, enc.payloadFormat);
    expect(back.toString()).toBe(payload);
  });

  it.each([
    { name: 'fits: unchanged', max: 100_000, truncated: false },
    { name: 'too large: response payload replaced by a marker', max: 2000, truncated: true },
  ])('size bound: $name', ({ max, truncated }) => {
    const out = encodeRecord(failed(Buffer.from(JSON.stringify({ blob: 'x'.repeat(5000) }))), max);
    expect(out.truncated).toBe(truncated);
    const parsed = JSON.parse(out.body.toString());
    expect(parsed.requestPayload).toEqual({ order: 42 });
    if (truncated) {
      expect(out.body.length).toBeLessThan(2000);
      expect(parsed.responsePayload.errorType).toBe('Sluice.ResponseTruncated');
    } else expect(parsed.responsePayload.blob).toHaveLength(5000);
  });
});

describe('buildStreamFailureRecord', () => {
  const batch = {
    shardId: 'clicks.>',
    startSequenceNumber: '3',
    endSequenceNumber: '5',
    approximateArrivalOfFirstRecord: '2026-01-02T03:00:00.000Z',
    approximateArrivalOfLastRecord: '2026-01-02T03:00:01.000Z',
    batchSize: 3,
    streamArn: 'arn:aws:nats:sluice-local:shop:stream/CLICKS',
  };
  const input = (o: Partial<StreamFailureInput> = {}): StreamFailureInput => ({
    timestamp: new Date('2026-01-02T03:04:05.678Z'),
    region: 'sluice-local',
    namespace: 'shop',
    function: 'count',
    requestId: 'req-9',
    condition: 'RetryAttemptsExhausted',
    approximateInvokeCount: 4,
    batch,
    ...o,
  });
  const requestContext = {
    requestId: 'req-9',
    functionArn: 'arn:aws:lambda:sluice-local:shop:function:count:$LATEST',
    condition: 'RetryAttemptsExhausted',
    approximateInvokeCount: 4,
  };

  it.each([
    {
      name: 'no answer (records too old): the range only',
      input: input({ condition: 'RecordAgeExceeded', approximateInvokeCount: 0 }),
      want: {
        requestContext: { ...requestContext, condition: 'RecordAgeExceeded', approximateInvokeCount: 0 },
        version: '1.0',
        timestamp: '2026-01-02T03:04:05.678Z',
        NatsStreamBatchInfo: batch,
      },
      keys: ['requestContext', 'version', 'timestamp', 'NatsStreamBatchInfo'],
    },
    {
      name: 'a function error: the response after the request context',
      input: input({
        qualifier: 'live',
        response: {
          statusCode: 200,
          executedVersion: '2',
          functionError: 'Unhandled',
          payload: Buffer.from('{"errorType":"Error"}'),
        },
      }),
      want: {
        requestContext: {
          ...requestContext,
          functionArn: 'arn:aws:lambda:sluice-local:shop:function:count:live',
        },
        responseContext: { statusCode: 200, executedVersion: '2', functionError: 'Unhandled' },
        responsePayload: { errorType: 'Error' },
        version: '1.0',
        timestamp: '2026-01-02T03:04:05.678Z',
        NatsStreamBatchInfo: batch,
      },
      keys: [
        'requestContext',
        'responseContext',
        'responsePayload',
        'version',
        'timestamp',
        'NatsStreamBatchInfo',
      ],
    },
    {
      name: 'throttled: the status, no version ran',
      input: input({ response: { statusCode: 429 } }),
      want: {
        requestContext,
        responseContext: { statusCode: 429 },
        version: '1.0',
        timestamp: '2026-01-02T03:04:05.678Z',
        NatsStreamBatchInfo: batch,
      },
      keys: ['requestContext', 'responseContext', 'version', 'timestamp', 'NatsStreamBatchInfo'],
    },
  ])('$name', ({ input: i, want, keys }) => {
    const got = buildStreamFailureRecord(i);
    expect(got).toEqual(want);
    expect(Object.keys(got)).toEqual(keys);
  });
});
