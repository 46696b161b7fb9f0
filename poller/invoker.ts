import { readFile } from 'node:fs/promises';
import { readInvokeResponse } from '../api/invoke-response.js';

/** The function an invocation goes to: NAME[:QUALIFIER] in a namespace. */
export interface InvokeTarget {
  namespace: string;
  function: string;
  qualifier?: string;
}

export interface InvokeRequest {
  target: InvokeTarget;
  payload: Buffer;
  /** RequestResponse (batches) or Event (schedules, function destinations). */
  type?: 'RequestResponse' | 'Event';
  /** De-duplicates retried Event calls (the gateway's async queue honours it). */
  idempotencyKey?: string;
  /** Trace context to carry (traceparent, tracestate). */
  headers?: Record<string, string>;
}

/** The result of one call. Service errors are results, not exceptions, so callers can classify them. */
export type InvokeResult =
  | { kind: 'success'; payload: Buffer; executedVersion?: string }
  | { kind: 'function_error'; payload: Buffer; errorType?: string; timedOut: boolean }
  | { kind: 'throttled'; retryAfterMs?: number; message: string }
  /**
   * retryable: 5xx, unreachable, timeouts of the call itself, and the gateway refusing the poller
   * itself (`platform: 'auth'`); not: 4xx that a retry cannot fix.
   */
  | { kind: 'error'; status?: number; code?: string; message: string; retryable: boolean; platform?: 'auth' };

/** How the poller calls functions: the gateway's Invoke API in production, a fake in unit tests. */
export interface Invoker {
  invoke(req: InvokeRequest, signal?: AbortSignal): Promise<InvokeResult>;
}

export interface HttpInvokerOptions {
  /** The gateway (`SLUICE_GATEWAY_URL`), or a runtime's invoke endpoint in tests. */
  baseUrl: string;
  /** Bearer token for the gateway (the poller's ServiceAccount token); none when it returns undefined. */
  token?: () => Promise<string | undefined>;
  /** The request path for a target (default: the Invoke API with `NAMESPACE:function:NAME`). */
  pathFor?: (t: InvokeTarget) => string;
  /** Bound on one call (the function's timeout is enforced by the gateway; this is a backstop). */
  timeoutMs?: number;
}

/** `POST /2015-03-31/functions/{NAMESPACE:function:NAME}/invocations?Qualifier=…` (architecture: namespace = account). */
export function invokePath(t: InvokeTarget): string {
  const name = encodeURIComponent(`${t.namespace}:function:${t.function}`);
  const q = t.qualifier ? `?Qualifier=${encodeURIComponent(t.qualifier)}` : '';
  return `/2015-03-31/functions/${name}/invocations${q}`;
}

const RETRYABLE_4XX = new Set([408, 429]);
/**
 * The gateway refused the poller's own credentials: 401 (its ServiceAccount token rejected) or 403
 * (not allowed: RBAC, or the function's invokePolicy not listing the poller). Either way a platform
 * misconfiguration that nothing in the records can fix, so they are kept and retried.
 */
const PLATFORM_AUTH = new Set([401, 403]);

/** Calls the Lambda Invoke API over HTTP and classifies the answer (lambda.md §1). */
export class HttpInvoker implements Invoker {
  private readonly pathFor: (t: InvokeTarget) => string;
  private readonly timeoutMs: number;

  constructor(private readonly opts: HttpInvokerOptions) {
    this.pathFor = opts.pathFor ?? invokePath;
    this.timeoutMs = opts.timeoutMs ?? 930_000;
  }

  async invoke(req: InvokeRequest, signal?: AbortSignal): Promise<InvokeResult> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-amz-invocation-type': req.type ?? 'RequestResponse',
      ...req.headers,
    };
    if (req.idempotencyKey) headers['idempotency-key'] = req.idempotencyKey;
    const token = await this.opts.token?.();
    if (token) headers.authorization = `Bearer ${token}`;
    const bound = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    try {
      res = await fetch(`${this.opts.baseUrl}${this.pathFor(req.target)}`, {
        method: 'POST',
        headers,
        body: req.payload,
        signal: signal ? AbortSignal.any([signal, bound]) : bound,
      });
    } catch (err) {
      return { kind: 'error', message: `invoke failed: ${(err as Error).message}`, retryable: true };
    }
    const payload = Buffer.from(await res.arrayBuffer());
    return classifyResponse(res.status, res.headers, payload);
  }
}

/**
 * Maps an Invoke API response onto an InvokeResult. Any 2xx ran the function (an Event call
 * answers 202); a 429 is a throttle; of the other errors 5xx, 408 and 404 are retryable, and so
 * are 401 and 403, the platform's own authentication failing (`platform: 'auth'`).
 */
export function classifyResponse(status: number, headers: Headers, payload: Buffer): InvokeResult {
  const r = readInvokeResponse(status, headers, payload);
  if (r.kind === 'success') {
    return { kind: 'success', payload, ...(r.executedVersion ? { executedVersion: r.executedVersion } : {}) };
  }
  if (r.kind === 'function_error') {
    return {
      kind: 'function_error',
      payload,
      errorType: r.errorType ?? r.functionError,
      timedOut: r.timedOut,
    };
  }
  const message = `${status} ${r.code ?? ''}: ${payload.toString('utf8').slice(0, 300)}`.trim();
  if (status === 429) {
    return {
      kind: 'throttled',
      message,
      ...(r.retryAfterSeconds !== undefined ? { retryAfterMs: r.retryAfterSeconds * 1000 } : {}),
    };
  }
  if (PLATFORM_AUTH.has(status)) {
    return {
      kind: 'error',
      status,
      ...(r.code ? { code: r.code } : {}),
      message,
      retryable: true,
      platform: 'auth',
    };
  }
  return {
    kind: 'error',
    status,
    ...(r.code ? { code: r.code } : {}),
    message,
    retryable: status >= 500 || RETRYABLE_4XX.has(status) || status === 404,
  };
}

export interface AuthFailureReport {
  /** `sluice_platform_auth_failures_total` (labels namespace, function, status; component from the registry). */
  counter: { inc(labels: { namespace: string; function: string; status: string }, value?: number): void };
  log: { error(obj: object, msg: string): void };
  /** At most one log line per target in this long (every failure is counted). */
  logEveryMs?: number;
  now?: () => number;
}

/**
 * Wraps an invoker so that the gateway refusing the poller's own credentials (401/403) is counted
 * and logged at error: it is the platform's misconfiguration (a rotated or wrong token, missing
 * RBAC, an invokePolicy without the poller), and the records wait until someone fixes it.
 */
export function reportingAuthFailures(inner: Invoker, report: AuthFailureReport): Invoker {
  const now = report.now ?? Date.now;
  const every = report.logEveryMs ?? 30_000;
  const lastLog = new Map<string, number>();
  const counted = new Set<string>();
  return {
    async invoke(req, signal) {
      const { namespace, function: fn } = req.target;
      // The target's series at 0 from its first call, so an alert tells "none" from "not scraped".
      const key = `${namespace}/${fn}`;
      if (!counted.has(key)) {
        if (counted.size >= 10_000) counted.delete(counted.values().next().value as string);
        counted.add(key);
        for (const status of ['401', '403']) report.counter.inc({ namespace, function: fn, status }, 0);
      }
      const r = await inner.invoke(req, signal);
      if (r.kind !== 'error' || r.platform !== 'auth') return r;
      const status = String(r.status ?? '');
      report.counter.inc({ namespace, function: fn, status });
      const t = now();
      if (t - (lastLog.get(key) ?? -Infinity) >= every) {
        lastLog.set(key, t);
        if (lastLog.size > 10_000) lastLog.delete(lastLog.keys().next().value as string);
        report.log.error(
          { namespace, function: fn, status: r.status, code: r.code, message: r.message },
          status === '401'
            ? "the gateway rejected the poller's ServiceAccount token; records are kept and retried"
            : "the gateway does not allow the poller to invoke this function (RBAC or the function's invokePolicy); records are kept and retried",
        );
      }
      return r;
    },
  };
}

/**
 * Reads a projected ServiceAccount token (audience `sluice`, for the gateway), re-reading it at
 * most once a minute: the kubelet rotates it well before it expires (at 80% of its lifetime), so
 * a minute-old copy is always still valid. A read that fails (the volume not mounted yet) is
 * retried after a second.
 */
export function fileToken(path: string, now: () => number = Date.now): () => Promise<string | undefined> {
  let cached: { value: string | undefined; until: number } | undefined;
  return async () => {
    if (cached && now() < cached.until) return cached.value;
    try {
      const value = (await readFile(path, 'utf8')).trim();
      cached = { value: value || undefined, until: now() + (value ? 60_000 : 1000) };
    } catch {
      cached = { value: undefined, until: now() + 1000 };
    }
    return cached.value;
  };
}
