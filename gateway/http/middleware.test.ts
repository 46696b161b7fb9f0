import type { AddressInfo } from 'node:net';
import { propagation, SpanKind } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../test/support/time.js';
import { callId, tracing } from './middleware.js';

describe('tracing middleware', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let base = '';
  let close: () => void = () => undefined;

  beforeAll(async () => {
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const app = express();
    app.use(callId(), tracing(provider.getTracer('sluice-gateway')));
    app.post('/2015-03-31/functions/:name/invocations', (_req, res) => void res.status(200).end());
    for (const p of ['/healthz', '/readyz', '/metrics', '/internal/v1/inflight'])
      app.get(p, (_req, res) => void res.status(200).end());
    const server = await new Promise<ReturnType<typeof app.listen>>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  afterAll(() => {
    close();
    propagation.disable();
  });

  it("one server span per call, continuing the caller's context and named by the route", async () => {
    exporter.reset();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await fetch(`${base}/2015-03-31/functions/f/invocations`, {
      method: 'POST',
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    // The span ends when the response has been sent, which may be after the client has it.
    await until(() => exporter.getFinishedSpans().length > 0, 'the server span');
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe('POST /2015-03-31/functions/:name/invocations');
    expect(span?.kind).toBe(SpanKind.SERVER);
    expect(span?.spanContext().traceId).toBe(traceId);
    expect(span?.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(span?.attributes['http.response.status_code']).toBe(200);
  });

  it('no spans for probes, scrapes and internal polling', async () => {
    exporter.reset();
    for (const p of ['/healthz', '/readyz', '/metrics', '/internal/v1/inflight']) {
      expect((await fetch(`${base}${p}`)).status).toBe(200);
    }
    // A call made after they were all answered: once its span has ended, theirs (ended when their
    // responses were sent, before this call was even made) would have been exported too.
    await fetch(`${base}/2015-03-31/functions/after/invocations`, { method: 'POST' });
    await until(() => exporter.getFinishedSpans().length > 0, 'the span of the call after the probes');
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual([
      'POST /2015-03-31/functions/:name/invocations',
    ]);
  });
});
