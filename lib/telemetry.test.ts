import { SpanStatusCode, type Span } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { inSpan, startTelemetry, telemetryEnabled } from './telemetry.js';

describe('telemetry', () => {
  it.each([
    { name: 'nothing set', env: {}, want: false },
    { name: 'OTLP endpoint', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, want: true },
    {
      name: 'traces endpoint',
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' },
      want: true,
    },
    { name: 'exporter none', env: { OTEL_TRACES_EXPORTER: 'none' }, want: false },
    { name: 'exporter console', env: { OTEL_TRACES_EXPORTER: 'console' }, want: true },
    {
      name: 'SDK disabled wins',
      env: { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' },
      want: false,
    },
  ])('$name → enabled=$want', ({ env, want }) => {
    expect(telemetryEnabled(env)).toBe(want);
  });

  it('is a no-op tracer when unset', async () => {
    const t = startTelemetry('sluice-test', {});
    expect(t.enabled).toBe(false);
    const span = t.tracer.startSpan('x');
    expect(span.isRecording()).toBe(false);
    span.end();
    await t.shutdown();
  });
});

describe('inSpan', () => {
  function fakeSpan(): {
    span: Span;
    state: { status?: { code: number; message?: string }; ended: boolean };
  } {
    const state: { status?: { code: number; message?: string }; ended: boolean } = { ended: false };
    const span = {
      setStatus: (s: { code: number; message?: string }) => {
        state.status = s;
        return span;
      },
      end: () => {
        state.ended = true;
      },
    } as unknown as Span;
    return { span, state };
  }

  it('ends the span with the result, unset status when nothing failed', async () => {
    const { span, state } = fakeSpan();
    await expect(
      inSpan(
        span,
        () => Promise.resolve(3),
        (r) => (r > 5 ? 'big' : undefined),
      ),
    ).resolves.toBe(3);
    expect(state).toEqual({ ended: true });
  });

  it('marks ERROR with what failed about the result', async () => {
    const { span, state } = fakeSpan();
    await inSpan(
      span,
      () => Promise.resolve(9),
      (r) => (r > 5 ? 'big' : undefined),
    );
    expect(state).toEqual({ ended: true, status: { code: SpanStatusCode.ERROR, message: 'big' } });
  });

  it('marks ERROR with the message of a throw and rethrows', async () => {
    const { span, state } = fakeSpan();
    await expect(inSpan(span, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(state).toEqual({ ended: true, status: { code: SpanStatusCode.ERROR, message: 'boom' } });
  });
});
