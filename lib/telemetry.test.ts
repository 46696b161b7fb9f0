import { describe, expect, it } from 'vitest';
import { startTelemetry, telemetryEnabled } from './telemetry.js';

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
