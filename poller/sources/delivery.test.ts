import { propagation, SpanKind } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyResponse, reportingAuthFailures, type Invoker } from '../invoker.js';
import type { MappingConfig } from '../mapping.js';
import { PollerMetrics } from '../metrics.js';
import type { SourceMessage } from '../records.js';
import { buildRecord } from '../../api/records.js';
import {
  BatchInvoker,
  backoffMs,
  toSourceMessage,
  traceHeaders,
  type BatchResult,
  type Prepared,
} from './delivery.js';
import type { SourceDeps } from './source.js';

const item = (headers: Record<string, string[]>): Prepared =>
  ({ msg: { headers } as unknown as SourceMessage, record: {}, json: '{}', size: 2, id: '1' }) as Prepared;

describe('traceHeaders', () => {
  it.each([
    { name: 'none', items: [item({})], want: undefined },
    {
      name: 'the first traced record, any header case',
      items: [
        item({}),
        item({ TraceParent: ['00-a-b-01'], tracestate: ['k=v'] }),
        item({ traceparent: ['00-c-d-01'] }),
      ],
      want: { traceparent: '00-a-b-01', tracestate: 'k=v' },
    },
  ])('$name', ({ items, want }) => expect(traceHeaders(items)).toEqual(want));
});

describe('backoffMs', () => {
  it.each([
    { attempt: 1, want: 100 },
    { attempt: 2, want: 200 },
    { attempt: 4, want: 800 },
    { attempt: 10, want: 1000 },
  ])('attempt $attempt → $want ms', ({ attempt, want }) => expect(backoffMs(attempt, 100, 1000)).toBe(want));
});

describe('BatchInvoker spans', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const propagator = new W3CTraceContextPropagator();

  beforeAll(() => propagation.setGlobalPropagator(propagator));
  afterAll(() => propagation.disable());

  const mapping = {
    ref: { namespace: 'ns1', name: 'jobs', uid: 'u1' },
    target: { namespace: 'ns1', function: 'worker' },
    source: { kind: 'natsQueue', stream: 'JOBS', subject: 'jobs.>', consumer: 'c', ownsConsumer: true },
    reportBatchItemFailures: false,
    recordFormat: 'sqs',
  } as unknown as MappingConfig;

  function batchInvoker(seen: Record<string, string>[]): BatchInvoker {
    const invoker: Invoker = {
      invoke: (req) => {
        seen.push(req.headers ?? {});
        return Promise.resolve({ kind: 'success', payload: Buffer.from('{}') });
      },
    };
    return new BatchInvoker(mapping, {
      invoker,
      metrics: new PollerMetrics(new Registry()),
      report: () => undefined,
      tuning: { region: 'sluice' },
      tracer: provider.getTracer('sluice-poller'),
    } as unknown as SourceDeps);
  }

  it("one consumer span per batch: the first traced record's child, linked to every traced record, and the call's parent", async () => {
    exporter.reset();
    const seen: Record<string, string>[] = [];
    const a = { trace: 'a'.repeat(32), span: '1'.repeat(16) };
    const b = { trace: 'b'.repeat(32), span: '2'.repeat(16) };
    await batchInvoker(seen).invoke([
      item({}),
      item({ traceparent: [`00-${a.trace}-${a.span}-01`] }),
      item({ TraceParent: [`00-${b.trace}-${b.span}-01`] }),
    ]);
    const [span] = exporter.getFinishedSpans();
    expect(exporter.getFinishedSpans()).toHaveLength(1);
    expect(span?.name).toBe('JOBS process');
    expect(span?.kind).toBe(SpanKind.CONSUMER);
    expect(span?.spanContext().traceId).toBe(a.trace);
    expect(span?.parentSpanContext?.spanId).toBe(a.span);
    expect(span?.links.map((l) => l.context.spanId)).toEqual([a.span, b.span]);
    expect(span?.attributes).toMatchObject({
      'messaging.batch.message_count': 3,
      'messaging.destination.name': 'jobs.>',
      'sluice.mapping': 'jobs',
      'sluice.outcome': 'success',
    });
    expect(seen[0]?.traceparent).toBe(`00-${a.trace}-${span?.spanContext().spanId}-01`);
  });

  it('a batch without trace context starts a new trace', async () => {
    exporter.reset();
    const seen: Record<string, string>[] = [];
    await batchInvoker(seen).invoke([item({})]);
    const [span] = exporter.getFinishedSpans();
    expect(span?.parentSpanContext).toBeUndefined();
    expect(seen[0]?.traceparent).toBe(`00-${span?.spanContext().traceId}-${span?.spanContext().spanId}-01`);
  });
});

describe('BatchInvoker: the gateway refusing the poller (401/403)', () => {
  const mapping = {
    ref: { namespace: 'ns1', name: 'jobs', uid: 'u1' },
    target: { namespace: 'ns1', function: 'worker' },
    source: { kind: 'natsQueue', stream: 'JOBS', subject: 'jobs.>', consumer: 'c', ownsConsumer: true },
    reportBatchItemFailures: true,
    recordFormat: 'sqs',
  } as unknown as MappingConfig;

  it.each([
    { name: '401: token rejected', status: 401, code: undefined },
    { name: '403: not allowed (RBAC)', status: 403, code: 'UnrecognizedClientException' },
    { name: "403: the function's invokePolicy", status: 403, code: 'AccessDeniedException' },
  ])(
    '$name is a platform error: the batch is retried in place (records kept), counted, logged at error',
    async ({ status, code }) => {
      const registry = new Registry();
      const metrics = new PollerMetrics(registry);
      const errors: string[] = [];
      const headers = new Headers(code ? { 'x-amzn-errortype': code } : {});
      const invoker = reportingAuthFailures(
        { invoke: () => Promise.resolve(classifyResponse(status, headers, Buffer.from('{}'))) },
        { counter: metrics.platformAuthFailures, log: { error: (_o, msg) => errors.push(msg) } },
      );
      const bi = new BatchInvoker(mapping, {
        invoker,
        metrics,
        report: () => undefined,
        tuning: { region: 'sluice' },
      } as unknown as SourceDeps);
      const res = await bi.invoke([item({})]);
      // 'error' is what nats-queue and nats-stream retry with backoff without using up retries
      // (planStreamStep), never 'rejected' (onFailure, or acked away without one).
      expect(res.outcome.kind).toBe('error');
      expect(errors).toHaveLength(1);
      expect(await registry.getSingleMetricAsString('sluice_platform_auth_failures_total')).toContain(
        `sluice_platform_auth_failures_total{namespace="ns1",function="worker",status="${status}"} 1`,
      );
    },
  );
});

describe('toSourceMessage', () => {
  it('keeps whole milliseconds of the stored time (SQS SentTimestamp has no fraction)', () => {
    const m = {
      subject: 'jobs.a',
      seq: 7,
      data: new Uint8Array(),
      headers: undefined,
      info: { stream: 'JOBS', deliveryCount: 1, timestampNanos: 1_795_890_918_018_391_800 },
    } as unknown as Parameters<typeof toSourceMessage>[0];
    expect(toSourceMessage(m, 'c').timestampMs).toBe(1_795_890_918_018);
  });
});

describe('BatchInvoker failure records: the shapes of api/records.ts', () => {
  const mapping = {
    ref: { namespace: 'ns1', name: 'jobs', uid: 'u1' },
    target: { namespace: 'ns1', function: 'worker', qualifier: 'prod' },
    source: { kind: 'natsStream', stream: 'JOBS', subject: 'jobs.>', consumer: 'c', ownsConsumer: true },
    reportBatchItemFailures: false,
    recordFormat: 'raw',
  } as unknown as MappingConfig;
  const bi = new BatchInvoker(mapping, { tuning: { region: 'sluice' } } as unknown as SourceDeps);
  const msg = (seq: number): SourceMessage =>
    ({
      stream: 'JOBS',
      seq,
      deliveryCount: 3,
      timestampMs: 1_000 * seq,
      headers: {},
    }) as unknown as SourceMessage;
  const failed = (payload: string): BatchResult =>
    ({
      result: { kind: 'function_error', payload: Buffer.from(payload), timedOut: false },
    }) as unknown as BatchResult;

  it.each([
    { name: 'after a function error', last: failed('{"errorType":"Error","errorMessage":"no"}') },
    {
      name: 'after a throttle',
      last: { result: { kind: 'throttled', message: 'slow down' } } as BatchResult,
    },
    { name: 'without an answer', last: undefined },
  ])("a queue record's failure record is the gateway's invocation record, $name", ({ last }) => {
    const record = { body: 'hi' } as unknown as Parameters<BatchInvoker['queueFailureRecord']>[1];
    const got = bi.queueFailureRecord(msg(7), record, last);
    const response =
      last?.result.kind === 'function_error'
        ? {
            statusCode: 200,
            executedVersion: '$LATEST',
            functionError: 'Unhandled',
            payload: Buffer.from('{"errorType":"Error","errorMessage":"no"}'),
          }
        : last
          ? { statusCode: 429 }
          : undefined;
    expect(got).toEqual(
      buildRecord({
        timestamp: new Date(got.timestamp),
        region: 'sluice',
        namespace: 'ns1',
        function: 'worker',
        qualifier: 'prod',
        requestId: got.requestContext.requestId,
        condition: 'RetriesExhausted',
        approximateInvokeCount: 3,
        requestPayload: Buffer.from('{"Records":[{"body":"hi"}]}'),
        ...(response ? { response } : {}),
      }),
    );
    expect(got.requestContext.functionArn).toBe('arn:aws:lambda:sluice:ns1:function:worker:prod');
  });

  it('a stream range names its sequence numbers and subject filter', () => {
    const got = bi.streamFailureRecord([msg(3), msg(4), msg(5)], 'RecordAgeExceeded', 0);
    expect(got.requestContext).toMatchObject({ condition: 'RecordAgeExceeded', approximateInvokeCount: 0 });
    expect(got.NatsStreamBatchInfo).toEqual({
      shardId: 'jobs.>',
      startSequenceNumber: '3',
      endSequenceNumber: '5',
      approximateArrivalOfFirstRecord: new Date(3000).toISOString(),
      approximateArrivalOfLastRecord: new Date(5000).toISOString(),
      batchSize: 3,
      streamArn: 'arn:aws:nats:sluice:ns1:stream/JOBS',
    });
  });
});
