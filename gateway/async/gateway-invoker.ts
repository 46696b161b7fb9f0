import type { InvokeOutcome } from '../../api/outcomes.js';
import { attemptClientContext, INVOKE_COUNT_HEADER, type FunctionInvoker } from './invoker.js';

/** The gateway's internal invoke (`Gateway.invoke`, gateway/invoke/internal.ts), structurally. */
export type InternalInvoke = (req: {
  namespace: string;
  function: string;
  qualifier?: string;
  payload: Buffer;
  requestId: string;
  headers?: Record<string, string>;
  type: 'async';
}) => Promise<InvokeOutcome>;

/**
 * A FunctionInvoker over the gateway's synchronous path (alias pick, reserved-concurrency
 * admission, routing, scale from zero): `gatewayFunctionInvoker(gateway.invoke)`. The attempt
 * goes to the runtime in the client context; the gateway counts the invocation (type async).
 */
export function gatewayFunctionInvoker(invoke: InternalInvoke): FunctionInvoker {
  return {
    countsInvocations: true,
    invoke: (req) => {
      const headers: Record<string, string> = {
        'x-amz-client-context': attemptClientContext(req.approximateInvokeCount),
        [INVOKE_COUNT_HEADER.toLowerCase()]: String(req.approximateInvokeCount),
      };
      if (req.traceparent) headers.traceparent = req.traceparent;
      if (req.tracestate) headers.tracestate = req.tracestate;
      return invoke({
        namespace: req.namespace,
        function: req.function,
        ...(req.qualifier ? { qualifier: req.qualifier } : {}),
        payload: req.payload,
        requestId: req.requestId,
        headers,
        type: 'async',
      });
    },
  };
}
