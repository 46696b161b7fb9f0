/**
 * The real sluice-runtime exports its spans over OTLP (the standard OTEL_* variables) to the test
 * receiver: the invoke span continues the caller's W3C context, the handler span (named after the
 * function) is its child, and the handler's X-Ray trace header names the handler span as parent.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain ESM script without type declarations (it also runs in a pod)
import { startReceiver } from '../support/otlp-receiver.mjs';
import { budget } from '../support/time.js';
import { buildRuntime, freePort, startRuntime, type RuntimeProcessHandle } from './runtime-harness.js';

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  service: string;
  attributes: Record<string, unknown>;
  status: number;
}

let receiver: Server;
let receiverPort: number;
let rt: RuntimeProcessHandle;

async function spansOf(traceId: string, atLeast: number): Promise<Span[]> {
  const until = Date.now() + budget(20_000);
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${receiverPort}/spans?traceId=${traceId}`);
    const spans = (await res.json()) as Span[];
    if (spans.length >= atLeast || Date.now() > until) return spans;
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  buildRuntime();
  receiverPort = await freePort();
  receiver = (await startReceiver(receiverPort, '127.0.0.1')) as Server;
  rt = await startRuntime({
    functionName: 'traced',
    files: {
      'index.js': `exports.handler = async (event) => {
        if (event.fail) throw new Error('no');
        return { trace: process.env._X_AMZN_TRACE_ID };
      };`,
    },
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiverPort}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'traced',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
    },
  });
}, budget(120_000));

afterAll(async () => {
  rt?.child.kill('SIGTERM');
  await rt?.exited;
  await new Promise((r) => receiver?.close(r));
});

describe('sluice-runtime spans', () => {
  it('continue the caller trace: invoke span → handler span, and the handler sees the handler span as parent', async () => {
    const traceId = randomBytes(16).toString('hex');
    const callerSpan = randomBytes(8).toString('hex');
    const res = await rt.invoke({}, { headers: { traceparent: `00-${traceId}-${callerSpan}-01` } });
    expect(res.status).toBe(200);
    const spans = await spansOf(traceId, 2);
    const invoke = spans.find((s) => s.name === 'sluice-runtime invoke');
    const handler = spans.find((s) => s.name === 'traced');
    expect(invoke, JSON.stringify(spans)).toBeDefined();
    expect(handler, JSON.stringify(spans)).toBeDefined();
    expect(invoke?.parentSpanId).toBe(callerSpan);
    expect(handler?.parentSpanId).toBe(invoke?.spanId);
    expect(handler?.service).toBe('traced');
    expect(handler?.attributes['faas.invocation_id']).toBe(res.headers.get('x-amzn-requestid'));
    expect(handler?.attributes['faas.coldstart']).toBeTypeOf('boolean');
    // Lambda's form of the same context: Root=1-<first 8>-<rest>;Parent=<handler span>;Sampled=1
    expect((res.json as { trace: string }).trace).toBe(
      `Root=1-${traceId.slice(0, 8)}-${traceId.slice(8)};Parent=${handler?.spanId};Sampled=1`,
    );
  });

  it('marks a function error on the handler span', async () => {
    const traceId = randomBytes(16).toString('hex');
    const res = await rt.invoke(
      { fail: true },
      { headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` } },
    );
    expect(res.headers.get('x-amz-function-error')).toBe('Unhandled');
    const spans = await spansOf(traceId, 2);
    expect(spans.find((s) => s.name === 'traced')?.status).toBe(2); // STATUS_CODE_ERROR
  });

  it('keeps a caller X-Ray header as it is', async () => {
    const amzn = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';
    const res = await rt.invoke({}, { headers: { 'X-Amzn-Trace-Id': amzn } });
    expect((res.json as { trace: string }).trace).toBe(amzn);
  });
});
