/**
 * Invocation outcomes. Two layers, on purpose:
 *
 * - `InvocationOutcome` is the vocabulary every component reports in: the `outcome` label of
 *   `sluice_invocations_total` (the gateway's sync and async paths, the poller's batches). Each
 *   component maps its own result onto it, so dashboards and alerts read one set of values.
 * - `InvokeOutcome` is a platform-internal invocation as a value (the async dispatcher's and the
 *   gateway's internal invoke, which were two copies of it): the cases a caller branches on,
 *   without parsing errors.
 *
 * The other result types stay with their component and narrow this vocabulary, because they see a
 * different thing: the poller reads the Invoke API over HTTP (its result says whether a retry can
 * help), the runtime sees its handler process (exits and init errors that the gateway receives as
 * `function_error`). One union for all of them would carry cases each caller must ignore.
 */

/** The `outcome` label of `sluice_invocations_total`. */
export type InvocationOutcome = 'success' | 'function_error' | 'timeout' | 'throttled' | 'error';

/** The error type a function's timeout is reported with (lambda.md §1). */
export const TIMEOUT_ERROR_TYPE = 'Sandbox.Timedout';

/** A platform-internal invocation's outcome (async dispatcher, event sources through the gateway). */
export type InvokeOutcome =
  | { kind: 'success'; payload: Buffer; executedVersion: string }
  /** A function error, timeouts (`Sandbox.Timedout`) and crashes included. */
  | { kind: 'function_error'; errorType: string; payload: Buffer; executedVersion: string }
  /** 429: reserved concurrency reached, no capacity. Re-queued without consuming an attempt. */
  | { kind: 'throttled'; reason: string }
  /** The function or qualifier is gone. Not retried. */
  | { kind: 'not_found'; message: string }
  /** Any other 4xx-class refusal of the request (408 and 429 excepted). Not retried. */
  | { kind: 'rejected'; statusCode: number; errorType: string; message: string }
  /** The function could not be run (pod failed to start, 5xx, network). Re-queued like a throttle. */
  | { kind: 'system_error'; message: string };

/** The metric label of an InvokeOutcome. */
export function invocationOutcomeOf(o: InvokeOutcome): InvocationOutcome {
  switch (o.kind) {
    case 'success':
      return 'success';
    case 'function_error':
      return o.errorType === TIMEOUT_ERROR_TYPE ? 'timeout' : 'function_error';
    case 'throttled':
      return 'throttled';
    default:
      return 'error';
  }
}
