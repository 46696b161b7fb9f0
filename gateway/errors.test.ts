import { describe, expect, it } from 'vitest';
import { NotFoundError, ShuttingDownError, ValidationError } from '../lib/index.js';
import { AsyncPayloadTooLargeError, EnqueueFailedError } from './async/errors.js';
import {
  AccessDeniedError,
  FunctionNotReadyError,
  InvalidParameterError,
  InvalidRequestContentError,
  InvalidSignatureError,
  NotImplementedError,
  RequestTooLargeError,
  ResourceNotFoundError,
  ThrottledError,
  toErrorResponse,
  UnrecognizedClientError,
} from './errors.js';

describe('toErrorResponse', () => {
  it.each([
    {
      name: 'not found',
      err: new ResourceNotFoundError('Function not found: arn'),
      status: 404,
      code: 'ResourceNotFoundException',
      type: 'User',
    },
    {
      name: 'lib NotFoundError',
      err: new NotFoundError('gone'),
      status: 404,
      code: 'ResourceNotFoundException',
      type: 'User',
    },
    {
      name: 'bad parameter',
      err: new InvalidParameterError('bad'),
      status: 400,
      code: 'InvalidParameterValueException',
      type: 'User',
    },
    {
      name: 'lib ValidationError',
      err: new ValidationError('bad'),
      status: 400,
      code: 'InvalidParameterValueException',
      type: 'User',
    },
    {
      name: 'bad JSON',
      err: new InvalidRequestContentError('not json'),
      status: 400,
      code: 'InvalidRequestContentException',
      type: 'User',
    },
    {
      name: 'too large',
      err: new RequestTooLargeError(6291456),
      status: 413,
      code: 'RequestTooLargeException',
      type: 'User',
    },
    {
      name: 'async payload too large',
      err: new AsyncPayloadTooLargeError(1048576, 2000000),
      status: 413,
      code: 'RequestTooLargeException',
      type: 'User',
    },
    {
      name: 'async event not stored',
      err: new EnqueueFailedError('no PubAck'),
      status: 500,
      code: 'ServiceException',
      type: 'Service',
    },
    {
      name: 'denied',
      err: new AccessDeniedError('no'),
      status: 403,
      code: 'AccessDeniedException',
      type: 'User',
    },
    {
      name: 'bad signature',
      err: new InvalidSignatureError('sig'),
      status: 403,
      code: 'InvalidSignatureException',
      type: 'User',
    },
    {
      name: 'unknown key',
      err: new UnrecognizedClientError('key'),
      status: 403,
      code: 'UnrecognizedClientException',
      type: 'User',
    },
    {
      name: 'cannot start',
      err: new FunctionNotReadyError('crash loop'),
      status: 502,
      code: 'ResourceNotReadyException',
      type: 'Service',
    },
    {
      name: 'async not configured',
      err: new NotImplementedError('no queue'),
      status: 501,
      code: 'NotImplementedException',
      type: 'Service',
    },
    {
      name: 'shutting down',
      err: new ShuttingDownError('bye'),
      status: 503,
      code: 'ServiceException',
      type: 'Service',
    },
    {
      name: 'express body error',
      err: Object.assign(new Error('entity too large'), { status: 413 }),
      status: 413,
      code: 'RequestTooLargeException',
      type: 'User',
    },
    {
      name: 'anything else',
      err: new TypeError('x is undefined'),
      status: 500,
      code: 'ServiceException',
      type: 'Service',
    },
  ])('$name → $status $code', ({ err, status, code, type }) => {
    const out = toErrorResponse(err);
    expect(out.status).toBe(status);
    expect(out.code).toBe(code);
    expect(out.headers['X-Amzn-ErrorType']).toBe(code);
    expect(out.body.Type).toBe(type);
    expect(typeof (out.body.message ?? out.body.Message)).toBe('string');
  });

  it('writes Message for ResourceNotFoundException and message for the others, as AWS does; a throttle has no retry delay in its body', () => {
    expect(toErrorResponse(new ResourceNotFoundError('Function not found: x')).body).toEqual({
      Type: 'User',
      Message: 'Function not found: x',
    });
    expect(Object.keys(toErrorResponse(new InvalidParameterError('bad')).body)).toEqual(['Type', 'message']);
    const throttled = toErrorResponse(
      new ThrottledError('ReservedFunctionConcurrentInvocationLimitExceeded', 'Rate Exceeded.', 2),
    );
    expect(throttled.body).toEqual({
      Type: 'User',
      message: 'Rate Exceeded.',
      Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
    });
    expect(throttled.headers['Retry-After']).toBe('2');
  });

  it('names the async limit in the message of an oversized event', () => {
    expect(toErrorResponse(new AsyncPayloadTooLargeError(1048576, 2000000)).body.message).toBe(
      'Request must be smaller than 1048576 bytes for the InvokeFunction operation',
    );
  });

  it('hides internal details of unexpected errors', () => {
    expect(toErrorResponse(new TypeError('secret detail')).body.message).not.toContain('secret');
  });

  it('throttles carry Retry-After and Reason', () => {
    const out = toErrorResponse(
      new ThrottledError('ReservedFunctionConcurrentInvocationLimitExceeded', 'Rate Exceeded.', 2),
    );
    expect(out.status).toBe(429);
    expect(out.headers['Retry-After']).toBe('2');
    expect(out.body).toMatchObject({
      Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
      Type: 'User',
    });
  });
});
