import type { FunctionResource } from '../../api/types.js';

/**
 * What the dispatcher needs of a Function, with the CRD's defaults applied. The async settings
 * are function-wide (taken from the Function, `$LATEST`'s spec), like the consumer.
 */
export interface AsyncFunction {
  namespace: string;
  name: string;
  /** `spec.concurrency.reserved`; 0 stops every invocation (ZeroReservedConcurrency). */
  reserved?: number;
  /** Cluster-wide cap on events in flight: min(reserved, maxReplicas × concurrencyPerPod). */
  maxConcurrency: number;
  timeoutSeconds: number;
  maxRetryAttempts: number;
  maxEventAgeSeconds: number;
  retryDelaySeconds: number;
  onSuccess?: string;
  onFailure?: string;
}

export const ASYNC_DEFAULTS = {
  timeoutSeconds: 3,
  maxRetryAttempts: 2,
  maxEventAgeSeconds: 21_600,
  retryDelaySeconds: 60,
  maxReplicas: 20,
  concurrencyPerPod: 1,
} as const;

export function asyncFunctionOf(fn: FunctionResource): AsyncFunction {
  const spec = fn.spec;
  const async = spec.async ?? {};
  const reserved = spec.concurrency?.reserved;
  const pods =
    (spec.scaling?.maxReplicas ?? ASYNC_DEFAULTS.maxReplicas) * (spec.scaling?.concurrencyPerPod ?? 1);
  return {
    namespace: fn.metadata.namespace ?? 'default',
    name: fn.metadata.name ?? '',
    ...(reserved !== undefined ? { reserved } : {}),
    maxConcurrency: Math.max(0, Math.min(reserved ?? Number.POSITIVE_INFINITY, pods)),
    timeoutSeconds: spec.timeoutSeconds ?? ASYNC_DEFAULTS.timeoutSeconds,
    maxRetryAttempts: async.maxRetryAttempts ?? ASYNC_DEFAULTS.maxRetryAttempts,
    maxEventAgeSeconds: async.maxEventAgeSeconds ?? ASYNC_DEFAULTS.maxEventAgeSeconds,
    retryDelaySeconds: async.retryDelaySeconds ?? ASYNC_DEFAULTS.retryDelaySeconds,
    ...(async.onSuccess ? { onSuccess: async.onSuccess } : {}),
    ...(async.onFailure ? { onFailure: async.onFailure } : {}),
  };
}

/** Builds an AsyncFunction from partial settings (tests, benchmarks). */
export function asyncFunction(
  o: Partial<AsyncFunction> & { namespace: string; name: string },
): AsyncFunction {
  return {
    maxConcurrency: o.reserved ?? ASYNC_DEFAULTS.maxReplicas,
    timeoutSeconds: ASYNC_DEFAULTS.timeoutSeconds,
    maxRetryAttempts: ASYNC_DEFAULTS.maxRetryAttempts,
    maxEventAgeSeconds: ASYNC_DEFAULTS.maxEventAgeSeconds,
    retryDelaySeconds: ASYNC_DEFAULTS.retryDelaySeconds,
    ...o,
  };
}
