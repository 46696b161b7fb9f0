import { describe, expect, it } from 'vitest';
import { outcomeOfResponse } from './invoker.js';

const h = (o: Record<string, string>): Headers => new Headers(o);

describe('outcomeOfResponse', () => {
  it.each([
    {
      name: '200: success with the executed version',
      status: 200,
      headers: { 'x-amz-executed-version': '4' },
      body: '{"ok":1}',
      want: { kind: 'success', executedVersion: '4' },
    },
    {
      name: '200 + X-Amz-Function-Error: function error typed from the body',
      status: 200,
      headers: { 'x-amz-function-error': 'Unhandled' },
      body: '{"errorType":"TypeError","errorMessage":"x"}',
      want: { kind: 'function_error', errorType: 'TypeError', executedVersion: '$LATEST' },
    },
    {
      name: 'timeout is a function error',
      status: 200,
      headers: { 'x-amz-function-error': 'Unhandled' },
      body: '{"errorType":"Sandbox.Timedout","errorMessage":"Task timed out"}',
      want: { kind: 'function_error', errorType: 'Sandbox.Timedout' },
    },
    {
      name: 'a function error without a body errorType is Unhandled, whatever the header says',
      status: 200,
      headers: { 'x-amz-function-error': 'Handled' },
      body: 'boom',
      want: { kind: 'function_error', errorType: 'Unhandled', executedVersion: '$LATEST' },
    },
    {
      name: '202: the RequestResponse endpoint ran nothing, a system error',
      status: 202,
      headers: {},
      body: '',
      want: { kind: 'system_error', message: '202 : the runtime answered 202' },
    },
    {
      name: '429: throttled with its Reason',
      status: 429,
      headers: { 'x-amzn-errortype': 'TooManyRequestsException' },
      body: '{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","message":"Rate Exceeded."}',
      want: { kind: 'throttled', reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' },
    },
    {
      name: '429 with neither a Reason nor an error type: throttled, reason TooManyRequestsException',
      status: 429,
      headers: {},
      body: '',
      want: { kind: 'throttled', reason: 'TooManyRequestsException' },
    },
    {
      name: '404: not found, not retried',
      status: 404,
      headers: { 'x-amzn-errortype': 'ResourceNotFoundException' },
      body: '{"Type":"User","message":"Function not found: arn"}',
      want: { kind: 'not_found', message: 'Function not found: arn' },
    },
    {
      name: '400: rejected, not retried',
      status: 400,
      headers: { 'x-amzn-errortype': 'InvalidRequestContentException' },
      body: '{"message":"bad"}',
      want: {
        kind: 'rejected',
        statusCode: 400,
        errorType: 'InvalidRequestContentException',
        message: 'bad',
      },
    },
    {
      name: "413: rejected with X-Amzn-ErrorType as sent and the body's Message",
      status: 413,
      headers: { 'x-amzn-errortype': 'RequestTooLargeException:http://x' },
      body: '{"Message":"too big"}',
      want: {
        kind: 'rejected',
        statusCode: 413,
        errorType: 'RequestTooLargeException:http://x',
        message: 'too big',
      },
    },
    {
      name: '403 without a code or a JSON body: rejected as InvalidRequest',
      status: 403,
      headers: {},
      body: 'no',
      want: {
        kind: 'rejected',
        statusCode: 403,
        errorType: 'InvalidRequest',
        message: 'the runtime answered 403',
      },
    },
    {
      name: '408: a system error (retried)',
      status: 408,
      headers: {},
      body: '',
      want: { kind: 'system_error' },
    },
    {
      name: '502: a system error (retried)',
      status: 502,
      headers: { 'x-amzn-errortype': 'ResourceNotReadyException' },
      body: '{"message":"cannot start"}',
      want: { kind: 'system_error', message: '502 ResourceNotReadyException: cannot start' },
    },
  ])('$name', ({ status, headers, body, want }) => {
    expect(outcomeOfResponse(status, h(headers as Record<string, string>), Buffer.from(body))).toMatchObject(
      want,
    );
  });
});
