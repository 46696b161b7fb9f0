import { NodeSDK } from '@opentelemetry/sdk-node';
import { SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';

/**
 * OpenTelemetry from the standard OTEL_* variables. When neither an OTLP endpoint nor a traces
 * exporter is configured, nothing is started and the returned tracer is the API's no-op one.
 */
export interface Telemetry {
  tracer: Tracer;
  enabled: boolean;
  shutdown(): Promise<void>;
}

export function telemetryEnabled(env: Readonly<Record<string, string | undefined>>): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  const exporter = env.OTEL_TRACES_EXPORTER;
  if (exporter !== undefined && exporter !== '' && exporter !== 'none') return true;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

export function startTelemetry(
  serviceName: string,
  env: Readonly<Record<string, string | undefined>>,
): Telemetry {
  if (!telemetryEnabled(env)) {
    return { tracer: trace.getTracer(serviceName), enabled: false, shutdown: () => Promise.resolve() };
  }
  // NodeSDK reads the remaining OTEL_* variables (endpoint, headers, protocol, sampler) itself.
  const sdk = new NodeSDK({ serviceName: env.OTEL_SERVICE_NAME || serviceName, instrumentations: [] });
  sdk.start();
  return { tracer: trace.getTracer(serviceName), enabled: true, shutdown: () => sdk.shutdown() };
}

/**
 * Runs `run` as `span`'s work: the span ends when it settles, with status ERROR when it throws
 * (the error's message) or when `failure` names what went wrong with its result.
 */
export async function inSpan<T>(
  span: Span,
  run: () => Promise<T>,
  failure?: (result: T) => string | undefined,
): Promise<T> {
  try {
    const result = await run();
    const failed = failure?.(result);
    if (failed !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: failed });
    return result;
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    throw err;
  } finally {
    span.end();
  }
}
