import type { ErrorRequestHandler, Response } from 'express';
import { NotFoundError, ShuttingDownError, SluiceError, ValidationError, type Logger } from '../lib/index.js';
import { PackageError } from '../lib/package/index.js';
import { AsyncBacklogFullError, AsyncPayloadTooLargeError } from './async/errors.js';
import { CodeStorageExceededError, PackageStoreUnavailableError } from './packages/store.js';

/**
 * The gateway's typed errors and the ONE mapping from any thrown value to a Lambda-style HTTP
 * error: status, `X-Amzn-ErrorType`, and the JSON body `{"Type":"User"|"Service","message":…}`
 * (`Message` for ResourceNotFoundException, as AWS writes it)
 * (plus `Reason` for throttles) that `@aws-sdk/client-lambda` parses.
 */
export class LambdaError extends SluiceError {
  override readonly name: string = 'LambdaError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** 400 InvalidParameterValueException: a parameter (name, qualifier, header) is invalid. */
export class InvalidParameterError extends LambdaError {
  override readonly name = 'InvalidParameterError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(400, 'InvalidParameterValueException', message, options);
  }
}

/** 400 InvalidRequestContentException: the body is not what the call needs (e.g. not JSON). */
export class InvalidRequestContentError extends LambdaError {
  override readonly name = 'InvalidRequestContentError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(400, 'InvalidRequestContentException', message, options);
  }
}

/** 404 ResourceNotFoundException: no such function, version or alias. */
export class ResourceNotFoundError extends LambdaError {
  override readonly name = 'ResourceNotFoundError';
  constructor(message: string) {
    super(404, 'ResourceNotFoundException', message);
  }
}

/** 413 RequestTooLargeException: the request body is over the limit. */
export class RequestTooLargeError extends LambdaError {
  override readonly name = 'RequestTooLargeError';
  constructor(limitBytes: number) {
    super(
      413,
      'RequestTooLargeException',
      `Request must be smaller than ${limitBytes} bytes for the InvokeFunction operation`,
    );
  }
}

/** Why a call was throttled (the `Reason` field of TooManyRequestsException). */
export type ThrottleReason =
  | 'ReservedFunctionConcurrentInvocationLimitExceeded'
  | 'ConcurrentInvocationLimitExceeded'
  | 'FunctionInvocationRateLimitExceeded'
  | 'CallerRateLimitExceeded'
  | 'RequestBytesLimitExceeded'
  /** Sluice: the function has its maximum of async events waiting. */
  | 'AsyncBacklogLimitExceeded';

/** 429 TooManyRequestsException with `Retry-After` and `Reason`; the SDK retries it. */
export class ThrottledError extends LambdaError {
  override readonly name: string = 'ThrottledError';
  constructor(
    readonly reason: ThrottleReason,
    message = 'Rate Exceeded.',
    readonly retryAfterSeconds = 1,
  ) {
    super(429, 'TooManyRequestsException', message);
  }
}

/** What a gateway replica protects itself from (the `reason` of sluice_gateway_shed_requests_total). */
export type ShedReason = 'buffer_full' | 'anonymous_rate' | 'auth_failures' | 'max_connections';

/**
 * 429 TooManyRequestsException raised to protect the gateway itself rather than a function's
 * limits: too many request bytes buffered at once, anonymous calls of a public function beyond
 * its rate, too many failed authentications from one address. Counted by the error mapping.
 */
export class LoadShedError extends ThrottledError {
  override readonly name = 'LoadShedError';
  constructor(
    readonly shed: Exclude<ShedReason, 'max_connections'>,
    reason: ThrottleReason,
    message: string,
    retryAfterSeconds = 1,
  ) {
    super(reason, message, retryAfterSeconds);
  }
}

/** 403 AccessDeniedException: the caller is known but the function's invokePolicy does not allow it. */
export class AccessDeniedError extends LambdaError {
  override readonly name = 'AccessDeniedError';
  constructor(message: string) {
    super(403, 'AccessDeniedException', message);
  }
}

/** 403 InvalidSignatureException: a SigV4 signature did not verify (wrong secret, altered request, stale date). */
export class InvalidSignatureError extends LambdaError {
  override readonly name = 'InvalidSignatureError';
  constructor(message: string) {
    super(403, 'InvalidSignatureException', message);
  }
}

/** 403 UnrecognizedClientException: unknown access key or an invalid bearer token. */
export class UnrecognizedClientError extends LambdaError {
  override readonly name = 'UnrecognizedClientError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(403, 'UnrecognizedClientException', message, options);
  }
}

/**
 * 502 ResourceNotReadyException: the activator gave up — the function cannot start (crash loop,
 * image pull failure, no workload). Never raised merely because a pod is still starting.
 */
export class FunctionNotReadyError extends LambdaError {
  override readonly name = 'FunctionNotReadyError';
  constructor(message: string) {
    super(502, 'ResourceNotReadyException', message);
  }
}

/** 501: a feature this gateway was not configured with (e.g. asynchronous invocation). */
export class NotImplementedError extends LambdaError {
  override readonly name = 'NotImplementedError';
  constructor(message: string) {
    super(501, 'NotImplementedException', message);
  }
}

/** 412 PreconditionFailedException: PublishVersion's CodeSha256/RevisionId did not match. */
export class PreconditionFailedError extends LambdaError {
  override readonly name = 'PreconditionFailedError';
  constructor(message: string) {
    super(412, 'PreconditionFailedException', message);
  }
}

/** 409 ResourceConflictException: e.g. a concurrent PublishVersion won the race. */
export class ResourceConflictError extends LambdaError {
  override readonly name = 'ResourceConflictError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(409, 'ResourceConflictException', message, options);
  }
}

/**
 * An error answered before its body was read keeps the connection (Node discards the body, so
 * the client reads the answer instead of a reset) unless the body declared is beyond anything a
 * call may send (4 × the 6 MB sync limit): then the connection closes rather than drain it.
 */
const UNREAD_BODY_KEEPALIVE_BYTES = 4 * 6 * 1024 * 1024;

/** What goes on the wire for an error. */
export interface ErrorResponse {
  status: number;
  code: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** Errors raised by express's own middleware (body parsers) carry a `type` and a `status`. */
function httpErrorStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const s =
    (err as { status?: unknown; statusCode?: unknown }).status ??
    (err as { statusCode?: unknown }).statusCode;
  return typeof s === 'number' && s >= 400 && s < 600 ? s : undefined;
}

function classify(err: unknown): LambdaError {
  if (err instanceof LambdaError) return err;
  if (err instanceof AsyncPayloadTooLargeError) return new RequestTooLargeError(err.limitBytes);
  if (err instanceof AsyncBacklogFullError)
    return new ThrottledError('AsyncBacklogLimitExceeded', err.message);
  // A refused zip package: InvalidParameterValueException (400) or RequestEntityTooLargeException (413).
  if (err instanceof PackageError) return new LambdaError(err.status, err.code, err.message);
  if (err instanceof CodeStorageExceededError)
    return new LambdaError(400, 'CodeStorageExceededException', err.message);
  if (err instanceof PackageStoreUnavailableError)
    return new LambdaError(503, 'ServiceException', err.message);
  if (err instanceof NotFoundError) return new ResourceNotFoundError(err.message);
  if (err instanceof ValidationError) return new InvalidParameterError(err.message);
  if (err instanceof ShuttingDownError) return new LambdaError(503, 'ServiceException', err.message);
  const status = httpErrorStatus(err);
  if (status === 413) return new RequestTooLargeError(0);
  if (status !== undefined && status < 500) {
    return new InvalidRequestContentError(err instanceof Error ? err.message : 'Bad request');
  }
  return new LambdaError(500, 'ServiceException', 'An internal error occurred in the Sluice gateway.');
}

/** Error codes whose body AWS writes with `Message` rather than `message`. */
const CAPITAL_MESSAGE = new Set(['ResourceNotFoundException']);

/** Maps anything thrown to the Lambda error response. Internal details never leak for 500s. */
export function toErrorResponse(err: unknown): ErrorResponse {
  const e = classify(err);
  const headers: Record<string, string> = { 'X-Amzn-ErrorType': e.code };
  // As AWS writes them (recorded responses, test/fixtures/aws-lambda/): ResourceNotFoundException
  // carries `Message`, the others `message`; a throttle's retry delay is the Retry-After header only.
  const messageKey = CAPITAL_MESSAGE.has(e.code) ? 'Message' : 'message';
  const body: Record<string, unknown> = {
    Type: e.status >= 500 ? 'Service' : 'User',
    [messageKey]: e.message,
  };
  if (e instanceof ThrottledError) {
    headers['Retry-After'] = String(e.retryAfterSeconds);
    body.Reason = e.reason;
  }
  return { status: e.status, code: e.code, headers, body };
}

/** Writes the error response (if nothing was sent yet). */
export function sendError(res: Response, err: unknown): ErrorResponse {
  const out = toErrorResponse(err);
  if (!res.headersSent) {
    res.status(out.status).set(out.headers).type('application/json').send(JSON.stringify(out.body));
  }
  return out;
}

/** The express error middleware: every route's errors end here. 5xx are logged with their cause. */
export function makeErrorMiddleware(log: Logger, shed?: (reason: ShedReason) => void): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (err instanceof LoadShedError) shed?.(err.shed);
    // A body nobody read is discarded after the answer; a huge one is not worth reading at all.
    if (!req.readableEnded && Number(req.headers['content-length'] ?? 0) > UNREAD_BODY_KEEPALIVE_BYTES) {
      res.set('Connection', 'close');
    }
    const out = sendError(res, err);
    res.locals.errorCode = out.code;
    if (out.status >= 500) log.error({ err, code: out.code }, 'request failed');
    else log.debug({ code: out.code, msg: (err as Error).message }, 'request rejected');
  };
}
