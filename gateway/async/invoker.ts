import { RUNTIME_INVOKE_PATH } from '../../api/naming.js';
import { readInvokeResponse, readServiceError } from '../../api/invoke-response.js';
import type { InvokeOutcome } from '../../api/outcomes.js';

/**
 * How the dispatcher runs a function. The gateway implements it over its synchronous path
 * (routing, scale-from-zero, reserved-concurrency admission); HttpFunctionInvoker calls one
 * runtime's invoke endpoint directly (tests, single-pod setups).
 */
export interface InvokeRequest {
  namespace: string;
  function: string;
  /** The qualifier as invoked (version or alias); absent: $LATEST. */
  qualifier?: string;
  payload: Buffer;
  /** The same id on every attempt of one event. */
  requestId: string;
  /**
   * 1 on the first attempt, 2 and 3 on retries. Handlers see it in the client context:
   * `context.clientContext.custom.approximateInvokeCount` (see README.md).
   */
  approximateInvokeCount: number;
  traceparent?: string;
  tracestate?: string;
  /** Epoch ms by which the call must have answered (function timeout + cold-start allowance). */
  deadlineMs: number;
}

export interface FunctionInvoker {
  invoke(req: InvokeRequest): Promise<InvokeOutcome>;
  /**
   * True when the invoker itself records `sluice_invocations_total{type="async"}` (the gateway's
   * sync path does); the dispatcher then does not count the attempt a second time.
   */
  readonly countsInvocations?: boolean;
}

/** The client context carrying the attempt number (base64 JSON, as `X-Amz-Client-Context`). */
export function attemptClientContext(approximateInvokeCount: number): string {
  return Buffer.from(JSON.stringify({ custom: { approximateInvokeCount } })).toString('base64');
}

export const INVOKE_COUNT_HEADER = 'X-Sluice-Approximate-Invoke-Count';

/**
 * Maps a runtime (or gateway) Invoke API answer to an outcome. The endpoint is called
 * RequestResponse, so only a 200 carries the function's result; any other answer is the
 * platform's: 429 throttled, 404 not found, other 4xx (408 aside) rejected, the rest a system error.
 */
export function outcomeOfResponse(status: number, headers: Headers, body: Buffer): InvokeOutcome {
  const r = readInvokeResponse(status, headers, body);
  if (status === 200 && r.kind !== 'service_error') {
    const executedVersion = r.executedVersion ?? '$LATEST';
    return r.kind === 'function_error'
      ? { kind: 'function_error', errorType: r.errorType ?? 'Unhandled', payload: body, executedVersion }
      : { kind: 'success', payload: body, executedVersion };
  }
  const e = r.kind === 'service_error' ? r : readServiceError(status, headers, body);
  const code = e.errorTypeHeader ?? '';
  const message = e.message ?? `the runtime answered ${status} ${code}`.trim();
  if (status === 429) return { kind: 'throttled', reason: e.reason || code || 'TooManyRequestsException' };
  if (status === 404) return { kind: 'not_found', message };
  if (status >= 400 && status < 500 && status !== 408) {
    return { kind: 'rejected', statusCode: status, errorType: code || 'InvalidRequest', message };
  }
  return { kind: 'system_error', message: `${status} ${code}: ${message}` };
}

export interface HttpInvokerOptions {
  /** `http://host:port` of a runtime's invoke endpoint, or a function choosing one per call. */
  baseUrl: string | ((req: InvokeRequest) => string);
  /** Extra time beyond the deadline before the call is abandoned as a timeout. */
  slackMs?: number;
  now?: () => number;
}

/**
 * Calls `POST <base>/2015-03-31/functions/function/invocations[?Qualifier=…]` — the runtime's
 * invoke endpoint. The attempt goes in `X-Amz-Client-Context` (and `X-Sluice-Approximate-Invoke-Count`).
 */
export class HttpFunctionInvoker implements FunctionInvoker {
  private readonly now: () => number;

  constructor(private readonly opts: HttpInvokerOptions) {
    this.now = opts.now ?? Date.now;
  }

  async invoke(req: InvokeRequest): Promise<InvokeOutcome> {
    const base = typeof this.opts.baseUrl === 'function' ? this.opts.baseUrl(req) : this.opts.baseUrl;
    const q = req.qualifier ? `?Qualifier=${encodeURIComponent(req.qualifier)}` : '';
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'X-Amz-Request-Id': req.requestId,
      'X-Amz-Client-Context': attemptClientContext(req.approximateInvokeCount),
      [INVOKE_COUNT_HEADER]: String(req.approximateInvokeCount),
    };
    if (req.traceparent) headers.traceparent = req.traceparent;
    if (req.tracestate) headers.tracestate = req.tracestate;
    const budget = Math.max(1, req.deadlineMs - this.now() + (this.opts.slackMs ?? 1000));
    let res: Response;
    try {
      res = await fetch(`${base.replace(/\/$/, '')}${RUNTIME_INVOKE_PATH}${q}`, {
        method: 'POST',
        headers,
        body: req.payload,
        signal: AbortSignal.timeout(budget),
      });
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') return this.timedOut(req, budget);
      return { kind: 'system_error', message: `invoke endpoint unreachable: ${(err as Error).message}` };
    }
    let body: Buffer;
    try {
      body = Buffer.from(await res.arrayBuffer());
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') return this.timedOut(req, budget);
      return { kind: 'system_error', message: `response broke: ${(err as Error).message}` };
    }
    return outcomeOfResponse(res.status, res.headers, body);
  }

  private timedOut(req: InvokeRequest, budgetMs: number): InvokeOutcome {
    const errorMessage = `RequestId: ${req.requestId} Error: Task timed out after ${(budgetMs / 1000).toFixed(2)} seconds`;
    return {
      kind: 'function_error',
      errorType: 'Sandbox.Timedout',
      payload: Buffer.from(JSON.stringify({ errorType: 'Sandbox.Timedout', errorMessage })),
      executedVersion: req.qualifier && /^\d+$/.test(req.qualifier) ? req.qualifier : '$LATEST',
    };
  }
}
