/**
 * The Lambda Invoke API's answer as it reads on the wire (lambda.md §1), parsed once:
 *
 * - 2xx: the call ran. `X-Amz-Function-Error` (`Unhandled`) marks a function error whose body is
 *   `{"errorType":…,"errorMessage":…}`; `X-Amz-Executed-Version` names the version that ran.
 * - any other status: the platform refused or failed the call. `X-Amzn-ErrorType` carries the
 *   error code (AWS may append `:<url>` or `#…`), the body is `{"Type":…,"message":…}` plus
 *   `Reason` on a throttle, and a 429 may carry `Retry-After` (seconds).
 *
 * The parsed form is neutral: it states what the answer says and decides nothing. Each reader maps
 * it onto its own result (the gateway's async dispatcher onto `InvokeOutcome`, the poller onto a
 * result that says whether a retry can help), and the defaults each needs stay with the reader:
 * an absent executed version or body `errorType` stays absent here.
 */
import { TIMEOUT_ERROR_TYPE } from './outcomes.js';

/** The facts of a refused or failed call (any answer's headers and body can be read this way). */
export interface ServiceError {
  status: number;
  /** `X-Amzn-ErrorType` as sent; absent when the header is. */
  errorTypeHeader?: string;
  /** The error code: `X-Amzn-ErrorType` up to the first ':' or '#'; absent when empty. */
  code?: string;
  /** The body's `message` (or `Message`) when it is JSON and the field is a string. */
  message?: string;
  /** The body's `Reason` (a throttle's cause, e.g. `ReservedFunctionConcurrentInvocationLimitExceeded`). */
  reason?: string;
  /** `Retry-After` in seconds, when it is a positive number. */
  retryAfterSeconds?: number;
}

/** One Invoke API answer, parsed. */
export type InvokeResponse =
  /** 2xx without `X-Amz-Function-Error`: the function's result. */
  | { kind: 'success'; status: number; payload: Buffer; executedVersion?: string }
  /** 2xx with `X-Amz-Function-Error`: the function failed (timeouts included). */
  | {
      kind: 'function_error';
      status: number;
      payload: Buffer;
      executedVersion?: string;
      /** The `X-Amz-Function-Error` header's value (`Unhandled`). */
      functionError: string;
      /** The body's `errorType`, when the body is JSON and it is a string. */
      errorType?: string;
      /** The body's errorType is `Sandbox.Timedout`, or the body says "Task timed out". */
      timedOut: boolean;
    }
  /** Any other status. */
  | ({ kind: 'service_error'; payload: Buffer } & ServiceError);

/** The JSON object a body holds, or undefined (not JSON, or not an object). */
function jsonObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Reads an answer's service-error facts: the error code, the body's message and Reason, Retry-After. */
export function readServiceError(status: number, headers: Headers, body: Buffer): ServiceError {
  const errorTypeHeader = headers.get('x-amzn-errortype') ?? undefined;
  const code = (errorTypeHeader ?? '').split(/[:#]/)[0] || undefined;
  const json = jsonObject(body);
  const message = str(json?.message) ?? str(json?.Message);
  const reason = str(json?.Reason);
  const after = Number(headers.get('retry-after'));
  return {
    status,
    ...(errorTypeHeader !== undefined ? { errorTypeHeader } : {}),
    ...(code ? { code } : {}),
    ...(message !== undefined ? { message } : {}),
    ...(reason !== undefined ? { reason } : {}),
    ...(Number.isFinite(after) && after > 0 ? { retryAfterSeconds: after } : {}),
  };
}

/** Reads an Invoke API answer (status, headers, body) into its parsed form. */
export function readInvokeResponse(status: number, headers: Headers, body: Buffer): InvokeResponse {
  if (status < 200 || status >= 300) {
    return { kind: 'service_error', payload: body, ...readServiceError(status, headers, body) };
  }
  const executedVersion = headers.get('x-amz-executed-version') ?? undefined;
  const version = executedVersion !== undefined ? { executedVersion } : {};
  const functionError = headers.get('x-amz-function-error');
  if (!functionError) return { kind: 'success', status, payload: body, ...version };
  const errorType = str(jsonObject(body)?.errorType);
  const timedOut = errorType === TIMEOUT_ERROR_TYPE || /Task timed out/.test(body.toString('utf8'));
  return {
    kind: 'function_error',
    status,
    payload: body,
    ...version,
    functionError,
    ...(errorType !== undefined ? { errorType } : {}),
    timedOut,
  };
}
