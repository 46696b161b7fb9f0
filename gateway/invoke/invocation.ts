import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import type { InvocationOutcome } from '../../api/outcomes.js';
import type { Logger } from '../../lib/index.js';
import { inCallerAccount, type FunctionRef } from '../arn.js';
import type { Authenticator } from '../auth/authenticator.js';
import { formatPrincipal, isAllowed, type Principal } from '../auth/principal.js';
import type { Request, Response } from 'express';
import type { FunctionResolver, ResolvedTarget } from '../catalog/catalog.js';
import { AccessDeniedError, LoadShedError, ThrottledError } from '../errors.js';
import { callContext, requestHeadOf, type CallContext } from '../http/context.js';
import type { ConcurrencyLimiter } from '../limits/limiter.js';
import type { KeyedTokenBuckets } from '../limits/rate.js';
import type { GatewayMetrics } from '../metrics.js';
import type { Dispatcher, InvokeResult } from './dispatcher.js';
import type { PodRequest } from './pod-client.js';

/** What the invoke and function-URL handlers share. */
export interface InvocationDeps {
  auth: Authenticator;
  resolver: FunctionResolver;
  limiter: ConcurrencyLimiter;
  dispatcher: Dispatcher;
  metrics: GatewayMetrics;
  tracer: Tracer;
  log: Logger;
  /**
   * Principals of Sluice itself (`serviceaccount:sluice-system:sluice-poller`) that may invoke any
   * function, whatever its invokePolicy: the poller delivers event-source batches and schedule
   * ticks on behalf of EventSourceMappings, which live in the function's own namespace.
   */
  platformPrincipals?: ReadonlySet<string>;
  /** Anonymous calls per function (public function URLs), per replica; unlimited when absent. */
  anonymousRate?: KeyedTokenBuckets;
}

export interface Admitted {
  target: ResolvedTarget;
  principal: Principal;
  /** The request body, read once the caller was admitted. */
  body: Buffer;
}

export interface AdmitOptions {
  /** Largest body to read (413 beyond). */
  limitBytes: number;
  /**
   * Whether an anonymous caller may invoke a function whose invokePolicy admits "*": on function
   * URLs, yes (rate-limited per function); on the Invoke API never — it needs credentials, as
   * Lambda's does.
   */
  anonymous: boolean;
}

/** The parts of a call's context an invocation uses. */
export type CallInfo = Pick<CallContext, 'requestId' | 'started' | 'span'>;

function admitAnonymous(deps: InvocationDeps, target: ResolvedTarget, opts: AdmitOptions): void {
  if (!opts.anonymous) {
    throw new AccessDeniedError(
      `anonymous is not authorized to perform: lambda:InvokeFunction on resource: ${target.namespace}/${target.function}: the Invoke API needs credentials (a bearer token or a SigV4 signature); anonymous callers reach public functions at their function URL, /url/${target.namespace}/${target.function}`,
    );
  }
  const key = `${target.namespace}/${target.function}`;
  const rate = deps.anonymousRate;
  if (rate && !rate.take(key)) {
    deps.metrics.throttles.inc({
      namespace: target.namespace,
      function: target.function,
      version: target.version,
      reason: 'FunctionInvocationRateLimitExceeded',
    });
    throw new LoadShedError(
      'anonymous_rate',
      'FunctionInvocationRateLimitExceeded',
      'Anonymous calls of this function URL are over the rate this gateway admits; retry later',
      rate.retryAfterSeconds(key),
    );
  }
}

/**
 * Admission, in the order that costs a caller the least it could abuse: authenticate (a bearer
 * token is reviewed, a SigV4 head checked, before any body byte is read; the signature is then
 * verified over a bounded body), resolve the function (404), check its invokePolicy (403; Sluice's
 * own platform principals are always admitted), limit anonymous callers, and only then read the
 * body. Authentication comes first so bad credentials never learn what exists.
 */
export async function admit(
  deps: InvocationDeps,
  req: Request,
  res: Response,
  ref: FunctionRef,
  opts: AdmitOptions,
): Promise<Admitted> {
  const ctx = callContext(res);
  const read = (): Promise<Buffer> => ctx.readBody(opts.limitBytes);
  const principal = await deps.auth.authenticate(requestHeadOf(req), read);
  const target = deps.resolver.resolve(inCallerAccount(ref, principal));
  const platform = principal.kind !== 'anonymous' && deps.platformPrincipals?.has(formatPrincipal(principal));
  if (!platform && !isAllowed(target.fn.spec.invokePolicy, target.namespace, principal)) {
    throw new AccessDeniedError(
      `${formatPrincipal(principal)} is not authorized to perform: lambda:InvokeFunction on resource: ${target.namespace}/${target.function}` +
        (principal.kind === 'anonymous' ? ' (no credentials were sent)' : ''),
    );
  }
  if (principal.kind === 'anonymous') admitAnonymous(deps, target, opts);
  return { target, principal, body: await read() };
}

/** Headers the runtime receives besides the body. */
export function podHeaders(
  ctx: CallInfo,
  incoming: Record<string, string | string[] | undefined>,
  extra: Record<string, string> = {},
): Record<string, string> {
  const h: Record<string, string> = { 'x-amz-request-id': ctx.requestId, ...extra };
  for (const name of ['x-amzn-trace-id', 'traceparent', 'tracestate']) {
    const v = incoming[name];
    if (typeof v === 'string') h[name] = v;
  }
  return h;
}

const labelsOf = (t: ResolvedTarget): { namespace: string; function: string; version: string } => ({
  namespace: t.namespace,
  function: t.function,
  version: t.version,
});

/**
 * One synchronous invocation: reserved-concurrency admission (429), a client span whose W3C
 * context goes to the runtime, dispatch to a pod, and the invocation metrics.
 */
export async function runSync(
  deps: InvocationDeps,
  target: ResolvedTarget,
  req: PodRequest,
  ctx: CallInfo,
  type: 'sync' | 'async' | 'esm' = 'sync',
): Promise<InvokeResult> {
  const labels = labelsOf(target);
  let release: () => Promise<void>;
  try {
    release = await deps.limiter.acquire(
      target.namespace,
      target.function,
      target.fn.spec.concurrency?.reserved,
    );
  } catch (err) {
    if (err instanceof ThrottledError) {
      deps.metrics.throttles.inc({ ...labels, reason: err.reason });
      deps.metrics.invocations.inc({ ...labels, type, outcome: 'throttled' });
    }
    throw err;
  }
  const parent = ctx.span ? trace.setSpan(ROOT_CONTEXT, ctx.span) : ROOT_CONTEXT;
  const span = deps.tracer.startSpan(
    'invoke function',
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'faas.invoked_name': target.function,
        'faas.invoked_provider': 'sluice',
        'sluice.namespace': target.namespace,
        'sluice.version': target.version,
      },
    },
    parent,
  );
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(ROOT_CONTEXT, span), carrier);
  const headers = { ...req.headers, ...carrier };
  let outcome: InvocationOutcome = 'error';
  try {
    const result = await deps.dispatcher.dispatch(target, { ...req, headers }, ctx.requestId);
    outcome = result.timedOut ? 'timeout' : result.functionError ? 'function_error' : 'success';
    if (result.functionError) span.setAttribute('sluice.function_error', result.functionError);
    return result;
  } catch (err) {
    if (err instanceof ThrottledError) {
      outcome = 'throttled';
      deps.metrics.throttles.inc({ ...labels, reason: err.reason });
    }
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    // Awaited: a caller answered may call again at once and find the slot free.
    await release();
    span.end();
    deps.metrics.invocations.inc({ ...labels, type, outcome });
    deps.metrics.duration.observe({ ...labels, type }, (Date.now() - ctx.started) / 1000);
  }
}
