import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../../lib/index.js';
import type { Activator } from '../activation/activator.js';
import type { ResolvedTarget } from '../catalog/catalog.js';
import { FunctionNotReadyError, LambdaError, ThrottledError } from '../errors.js';
import type { GatewayMetrics } from '../metrics.js';
import { workloadKey, type EndpointRouter } from '../routing/router.js';
import type { InflightCounter } from './inflight.js';
import {
  PodConnectionLostError,
  PodTimeoutError,
  PodUnreachableError,
  type PodClient,
  type PodRequest,
  type PodResponse,
} from './pod-client.js';

/** The answer of one synchronous invocation (service errors are thrown instead). */
export interface InvokeResult {
  body: Buffer;
  /** `Unhandled` for a function error. */
  functionError?: string;
  /** Base64 log tail, when `Tail` was asked for. */
  logResult?: string;
  /** The function (or the gateway for it) reported a timeout. */
  timedOut: boolean;
}

/** Counts calls held waiting for a pod; refuses more than `max` (back-pressure, not an unbounded queue). */
export class HoldGate {
  private held = 0;
  constructor(
    private readonly max: number,
    private readonly metrics?: GatewayMetrics,
  ) {}

  get size(): number {
    return this.held;
  }

  enter(): () => void {
    if (this.held >= this.max) {
      throw new ThrottledError(
        'ConcurrentInvocationLimitExceeded',
        `Rate Exceeded. ${this.max} calls are already waiting for function instances on this gateway.`,
      );
    }
    this.held++;
    this.metrics?.heldCalls.set(this.held);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.held--;
      this.metrics?.heldCalls.set(this.held);
    };
  }
}

export interface DispatcherOptions {
  router: EndpointRouter;
  activator: Activator;
  pods: PodClient;
  hold: HoldGate;
  metrics: GatewayMetrics;
  log: Logger;
  /** How long a call may wait for a pod beyond the function's timeout (cold start allowance). */
  coldStartAllowanceMs: number;
  /** Extra time given to a pod beyond the function's timeout before the gateway gives up on it. */
  podTimeoutSlackMs: number;
  /** Counts each call from dispatch to answer, held or running (the autoscaler reads it). */
  inflight?: InflightCounter;
  now?: () => number;
}

const header = (h: IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

function isBusy(res: PodResponse): boolean {
  return res.status === 429 && header(res.headers, 'x-amzn-errortype') === 'TooManyRequestsException';
}

/** A function error the gateway reports on the function's behalf (timeout, crash). */
function syntheticError(errorType: string, errorMessage: string, timedOut: boolean): InvokeResult {
  return {
    body: Buffer.from(JSON.stringify({ errorType, errorMessage })),
    functionError: 'Unhandled',
    timedOut,
  };
}

function fromPod(res: PodResponse): InvokeResult {
  if (res.status === 403 && header(res.headers, 'x-amzn-errortype') === 'AccessDeniedException') {
    // The pod did not take this gateway's invoke token: a platform fault, not the caller's.
    throw new LambdaError(
      500,
      'ServiceException',
      "the function's pod refused the gateway's invoke token (a platform invoke key that differs between the gateway and the controller)",
    );
  }
  if (res.status !== 200) {
    // The runtime refused the call (a 4xx/5xx service error): pass its error through.
    let message = `the function's runtime answered ${res.status}`;
    try {
      const parsed = JSON.parse(res.body.toString('utf8')) as { message?: string; Message?: string };
      message = parsed.message ?? parsed.Message ?? message;
    } catch {
      // keep the generic message
    }
    throw new LambdaError(res.status, header(res.headers, 'x-amzn-errortype') ?? 'ServiceException', message);
  }
  const functionError = header(res.headers, 'x-amz-function-error');
  const timedOut = functionError !== undefined && res.body.includes('Sandbox.Timedout');
  return {
    body: res.body,
    ...(functionError ? { functionError } : {}),
    ...(header(res.headers, 'x-amz-log-result')
      ? { logResult: header(res.headers, 'x-amz-log-result') }
      : {}),
    timedOut,
  };
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * Sends one call to a ready pod of the resolved version: the least-loaded pod with room; a pod
 * that answers "busy" (429) or cannot be reached is skipped for another; with no ready pod the
 * call is held (bounded by the function's timeout plus the cold-start allowance, and by the
 * HoldGate) while the activator brings one up.
 */
export class Dispatcher {
  private readonly now: () => number;

  constructor(private readonly opts: DispatcherOptions) {
    this.now = opts.now ?? Date.now;
  }

  async dispatch(target: ResolvedTarget, req: PodRequest, requestId: string): Promise<InvokeResult> {
    const timeoutMs = (target.spec.timeoutSeconds ?? 3) * 1000;
    const perPod = target.spec.scaling?.concurrencyPerPod ?? 1;
    const key = workloadKey(target.namespace, target.function, target.version);
    const deadline = this.now() + timeoutMs + this.opts.coldStartAllowanceMs;
    const exclude = new Set<string>();
    let leaveHold: (() => void) | undefined;
    const leaveInflight = this.opts.inflight?.enter(target.namespace, target.function, target.version);
    try {
      for (;;) {
        const lease = this.opts.router.acquire(key, perPod, exclude);
        if (lease) {
          leaveHold?.();
          const outcome = await this.send(target, lease.address, req, timeoutMs, requestId).finally(() =>
            lease.release(),
          );
          if (outcome !== 'retry') return outcome;
          exclude.add(lease.address);
          continue;
        }
        if (this.now() >= deadline) return this.heldTooLong(target, requestId, timeoutMs);
        leaveHold ??= this.opts.hold.enter();
        if (this.opts.router.endpoints(key).length === 0) {
          const r = await this.opts.activator.activate(target, deadline - this.now());
          if (r.kind === 'gave-up') {
            throw new FunctionNotReadyError(
              `Function ${target.namespace}/${target.function} version ${target.version} cannot start: ${r.reason}`,
            );
          }
          if (r.kind === 'timed-out') return this.heldTooLong(target, requestId, timeoutMs);
        } else {
          // Every ready pod is at capacity (or just said busy): wait for a slot, a new pod, or a short tick.
          const tick = new AbortController();
          await Promise.race([
            this.opts.router.changed(key, tick.signal),
            sleep(Math.min(100, Math.max(0, deadline - this.now())), tick.signal),
          ]);
          tick.abort();
        }
        exclude.clear();
      }
    } finally {
      leaveHold?.();
      leaveInflight?.();
    }
  }

  private async send(
    target: ResolvedTarget,
    address: string,
    req: PodRequest,
    timeoutMs: number,
    requestId: string,
  ): Promise<InvokeResult | 'retry'> {
    const labels = { namespace: target.namespace, function: target.function, version: target.version };
    this.opts.metrics.concurrent.inc(labels);
    try {
      const res = await this.opts.pods.invoke(
        address,
        { ...req, function: { namespace: target.namespace, name: target.function } },
        timeoutMs + this.opts.podTimeoutSlackMs,
      );
      if (isBusy(res)) return 'retry';
      if (res.status === 403)
        this.opts.log.error({ address, status: res.status }, 'a function pod refused the invoke token');
      return fromPod(res);
    } catch (err) {
      if (err instanceof PodUnreachableError) {
        this.opts.log.debug({ address, err: err.message }, 'pod unreachable; trying another');
        return 'retry';
      }
      if (err instanceof PodTimeoutError) {
        return syntheticError(
          'Sandbox.Timedout',
          `RequestId: ${requestId} Error: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
          true,
        );
      }
      if (err instanceof PodConnectionLostError) {
        this.opts.log.warn({ address, err: err.message }, 'connection to the pod lost during the call');
        return syntheticError(
          'Runtime.ExitError',
          `RequestId: ${requestId} Error: Runtime exited without providing a reason`,
          false,
        );
      }
      throw err;
    } finally {
      this.opts.metrics.concurrent.dec(labels);
    }
  }

  private heldTooLong(target: ResolvedTarget, requestId: string, timeoutMs: number): InvokeResult {
    this.opts.log.warn(
      { namespace: target.namespace, function: target.function, version: target.version },
      'no pod became ready within the call bound',
    );
    return syntheticError(
      'Sandbox.Timedout',
      `RequestId: ${requestId} Error: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds (no function instance became ready in time)`,
      true,
    );
  }
}
