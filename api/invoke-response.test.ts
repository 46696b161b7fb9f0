import { describe, expect, it } from 'vitest';
import { readInvokeResponse, readServiceError, type InvokeResponse } from './invoke-response.js';

const h = (o: Record<string, string>): Headers => new Headers(o);

describe('readInvokeResponse: an Invoke API answer, parsed', () => {
  it.each<{
    name: string;
    status: number;
    headers: Record<string, string>;
    body: string;
    want: InvokeResponse;
  }>([
    {
      name: '200: the result with the executed version',
      status: 200,
      headers: { 'x-amz-executed-version': '4' },
      body: '{"ok":1}',
      want: { kind: 'success', status: 200, payload: Buffer.from('{"ok":1}'), executedVersion: '4' },
    },
    {
      name: '202 (an Event call): a success without an executed version',
      status: 202,
      headers: {},
      body: '',
      want: { kind: 'success', status: 202, payload: Buffer.from('') },
    },
    {
      name: 'an empty executed version is kept as sent',
      status: 200,
      headers: { 'x-amz-executed-version': '' },
      body: '{}',
      want: { kind: 'success', status: 200, payload: Buffer.from('{}'), executedVersion: '' },
    },
    {
      name: 'X-Amz-Function-Error: a function error typed by the body',
      status: 200,
      headers: { 'x-amz-function-error': 'Unhandled', 'x-amz-executed-version': '2' },
      body: '{"errorType":"TypeError","errorMessage":"x"}',
      want: {
        kind: 'function_error',
        status: 200,
        payload: Buffer.from('{"errorType":"TypeError","errorMessage":"x"}'),
        executedVersion: '2',
        functionError: 'Unhandled',
        errorType: 'TypeError',
        timedOut: false,
      },
    },
    {
      name: 'Sandbox.Timedout: timed out',
      status: 200,
      headers: { 'x-amz-function-error': 'Unhandled' },
      body: '{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: r Error: Task timed out after 1.00 seconds"}',
      want: expect.objectContaining({
        kind: 'function_error',
        errorType: 'Sandbox.Timedout',
        timedOut: true,
      }),
    },
    {
      name: '"Task timed out" in the body without the error type: timed out',
      status: 200,
      headers: { 'x-amz-function-error': 'Unhandled' },
      body: '{"errorMessage":"Task timed out after 3.00 seconds"}',
      want: expect.objectContaining({ kind: 'function_error', functionError: 'Unhandled', timedOut: true }),
    },
    {
      name: 'a body that is not JSON: no error type, the header stays',
      status: 200,
      headers: { 'x-amz-function-error': 'Handled' },
      body: 'boom',
      want: {
        kind: 'function_error',
        status: 200,
        payload: Buffer.from('boom'),
        functionError: 'Handled',
        timedOut: false,
      },
    },
    {
      name: 'an errorType that is not a string is no error type',
      status: 200,
      headers: { 'x-amz-function-error': 'Unhandled' },
      body: '{"errorType":42}',
      want: expect.not.objectContaining({ errorType: expect.anything() as unknown }),
    },
    {
      name: '429: the code, Reason, message and Retry-After',
      status: 429,
      headers: { 'x-amzn-errortype': 'TooManyRequestsException', 'retry-after': '2' },
      body: '{"Type":"User","Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","message":"Rate Exceeded."}',
      want: expect.objectContaining({
        kind: 'service_error',
        status: 429,
        errorTypeHeader: 'TooManyRequestsException',
        code: 'TooManyRequestsException',
        reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
        message: 'Rate Exceeded.',
        retryAfterSeconds: 2,
      }),
    },
    {
      name: 'the code is stripped at ":"; the header stays as sent',
      status: 413,
      headers: { 'x-amzn-errortype': 'RequestTooLargeException:http://internal/' },
      body: '{"Message":"too big"}',
      want: {
        kind: 'service_error',
        status: 413,
        payload: Buffer.from('{"Message":"too big"}'),
        errorTypeHeader: 'RequestTooLargeException:http://internal/',
        code: 'RequestTooLargeException',
        message: 'too big',
      },
    },
    {
      name: 'the code is stripped at "#"',
      status: 404,
      headers: { 'x-amzn-errortype': 'ResourceNotFoundException#x' },
      body: '{"message":"Function not found: arn"}',
      want: expect.objectContaining({
        code: 'ResourceNotFoundException',
        message: 'Function not found: arn',
      }),
    },
    {
      name: 'no header, no JSON, a Retry-After that is a date: nothing but the status',
      status: 502,
      headers: { 'retry-after': 'Wed, 21 Oct 2026 07:28:00 GMT' },
      body: '<html>bad gateway</html>',
      want: { kind: 'service_error', status: 502, payload: Buffer.from('<html>bad gateway</html>') },
    },
    {
      name: 'a Retry-After of 0 is none',
      status: 429,
      headers: { 'retry-after': '0' },
      body: '{}',
      want: { kind: 'service_error', status: 429, payload: Buffer.from('{}') },
    },
  ])('$name', ({ status, headers, body, want }) => {
    expect(readInvokeResponse(status, h(headers), Buffer.from(body))).toEqual(want);
  });
});

describe('readServiceError: the error facts of any answer', () => {
  it('reads them from a 2xx too (an answer a reader did not expect)', () => {
    expect(readServiceError(202, h({}), Buffer.from('{"message":"queued"}'))).toEqual({
      status: 202,
      message: 'queued',
    });
  });
});
