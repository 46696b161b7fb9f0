import { propagation, ROOT_CONTEXT, trace, type Span } from '@opentelemetry/api';
import type { InvokeOutcome } from '../../api/outcomes.js';
import { parseFunctionRef } from '../arn.js';
import { LambdaError, ResourceNotFoundError, ThrottledError } from '../errors.js';
import { runSync, type InvocationDeps } from './invocation.js';

/** A call from inside Sluice (the async dispatcher, event-source batches): no HTTP, no caller auth. */
export interface InternalInvokeRequest {
  namespace: string;
  function: string;
  /** Version or alias; absent: $LATEST. */
  qualifier?: string;
  payload: Buffer;
  requestId: string;
  /** Extra headers for the runtime (trace context, client context). */
  headers?: Record<string, string>;
  /** Metrics label: `async` or `esm`. */
  type: 'async' | 'esm';
}

function errorTypeOf(payload: Buffer): string {
  try {
    const t = (JSON.parse(payload.toString('utf8')) as { errorType?: unknown }).errorType;
    return typeof t === 'string' ? t : 'Unhandled';
  } catch {
    return 'Unhandled';
  }
}

/** The caller's span (e.g. the dispatcher's) from its `traceparent`: the parent of the call to the pod. */
function callerSpan(headers: Record<string, string> | undefined): { span?: Span } {
  const span = headers ? trace.getSpan(propagation.extract(ROOT_CONTEXT, headers)) : undefined;
  return span ? { span } : {};
}

/**
 * Runs a function through the same path as a synchronous Invoke — alias pick, reserved
 * concurrency, least-outstanding routing, scale from zero — for callers inside Sluice.
 */
export async function invokeInternal(
  deps: InvocationDeps,
  req: InternalInvokeRequest,
): Promise<InvokeOutcome> {
  try {
    const ref = parseFunctionRef(req.function, req.qualifier, req.namespace);
    const target = deps.resolver.resolve({ ...ref, namespace: req.namespace });
    const result = await runSync(
      deps,
      target,
      {
        ...(target.qualified ? { qualifier: target.qualifier } : {}),
        body: req.payload.length === 0 ? Buffer.from('{}') : req.payload,
        headers: { 'x-amz-request-id': req.requestId, ...req.headers },
      },
      { requestId: req.requestId, started: Date.now(), ...callerSpan(req.headers) },
      req.type,
    );
    const executedVersion = target.version;
    if (result.functionError) {
      return {
        kind: 'function_error',
        errorType: errorTypeOf(result.body),
        payload: result.body,
        executedVersion,
      };
    }
    return { kind: 'success', payload: result.body, executedVersion };
  } catch (err) {
    if (err instanceof ThrottledError) return { kind: 'throttled', reason: err.reason };
    if (err instanceof ResourceNotFoundError) return { kind: 'not_found', message: err.message };
    if (err instanceof LambdaError && err.status < 500 && err.status !== 408) {
      return { kind: 'rejected', statusCode: err.status, errorType: err.code, message: err.message };
    }
    return { kind: 'system_error', message: err instanceof Error ? err.message : String(err) };
  }
}
