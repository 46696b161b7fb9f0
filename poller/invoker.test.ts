import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  classifyResponse,
  fileToken,
  HttpInvoker,
  invokePath,
  reportingAuthFailures,
  type Invoker,
  type InvokeResult,
} from './invoker.js';

const h = (o: Record<string, string | undefined>): Headers =>
  new Headers(Object.entries(o).filter((e): e is [string, string] => e[1] !== undefined));
const b = (s: string): Buffer => Buffer.from(s);

describe('classifyResponse', () => {
  it.each([
    {
      name: 'success',
      status: 200,
      headers: { 'x-amz-executed-version': '3' },
      body: '{"ok":1}',
      want: { kind: 'success', executedVersion: '3' },
    },
    {
      name: 'function error',
      status: 200,
      headers: { 'x-amz-function-error': 'Unhandled' },
      body: '{"errorType":"TypeError","errorMessage":"x"}',
      want: { kind: 'function_error', errorType: 'TypeError', timedOut: false },
    },
    {
      name: 'timeout',
      status: 200,
      headers: { 'x-amz-function-error': 'Unhandled' },
      body: '{"errorType":"Sandbox.Timedout","errorMessage":"Task timed out after 1.00 seconds"}',
      want: { kind: 'function_error', timedOut: true },
    },
    {
      name: 'Event call accepted (202): success without an executed version',
      status: 202,
      headers: {},
      body: '',
      want: { kind: 'success' },
    },
    {
      name: 'function error without a body errorType: typed by the header; "Task timed out" is a timeout',
      status: 200,
      headers: { 'x-amz-function-error': 'Unhandled' },
      body: 'Task timed out after 3.00 seconds',
      want: { kind: 'function_error', errorType: 'Unhandled', timedOut: true },
    },
    {
      name: 'throttle with Retry-After',
      status: 429,
      headers: { 'x-amzn-errortype': 'TooManyRequestsException', 'retry-after': '2' },
      body: '{}',
      want: { kind: 'throttled', retryAfterMs: 2000 },
    },
    {
      name: 'throttle: the message carries the status, the code and the body',
      status: 429,
      headers: { 'x-amzn-errortype': 'TooManyRequestsException' },
      body: '{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded"}',
      want: {
        kind: 'throttled',
        message:
          '429 TooManyRequestsException: {"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded"}',
      },
    },
    {
      name: 'server error retries',
      status: 502,
      headers: { 'x-amzn-errortype': 'ResourceNotReadyException' },
      body: '{}',
      want: { kind: 'error', code: 'ResourceNotReadyException', retryable: true },
    },
    {
      name: 'missing function retries',
      status: 404,
      headers: { 'x-amzn-errortype': 'ResourceNotFoundException' },
      body: '{}',
      want: { kind: 'error', retryable: true },
    },
    {
      name: 'too large cannot be retried',
      status: 413,
      headers: { 'x-amzn-errortype': 'RequestTooLargeException:http://x' },
      body: '{}',
      want: { kind: 'error', code: 'RequestTooLargeException', retryable: false },
    },
    {
      name: '403 without a code: the gateway refused the poller itself, a retryable platform error',
      status: 403,
      headers: {},
      body: '{}',
      want: { kind: 'error', status: 403, retryable: true, platform: 'auth' },
    },
    {
      name: "403 UnrecognizedClientException: the poller's ServiceAccount token was rejected",
      status: 403,
      headers: { 'x-amzn-errortype': 'UnrecognizedClientException' },
      body: '{"message":"token rejected"}',
      want: { kind: 'error', code: 'UnrecognizedClientException', retryable: true, platform: 'auth' },
    },
    {
      name: "403 AccessDeniedException: the function's invokePolicy does not list the poller (still the platform's)",
      status: 403,
      headers: { 'x-amzn-errortype': 'AccessDeniedException' },
      body: '{"message":"not allowed"}',
      want: { kind: 'error', code: 'AccessDeniedException', retryable: true, platform: 'auth' },
    },
    {
      name: '401: no or an expired token',
      status: 401,
      headers: {},
      body: '',
      want: { kind: 'error', status: 401, retryable: true, platform: 'auth' },
    },
    {
      name: 'other 4xx are not platform errors',
      status: 400,
      headers: { 'x-amzn-errortype': 'InvalidRequestContentException' },
      body: '{}',
      want: { kind: 'error', retryable: false },
    },
  ])('$name', ({ status, headers, body, want }) =>
    expect(classifyResponse(status, h(headers), b(body))).toMatchObject(want),
  );
});

describe('HttpInvoker', () => {
  it('posts the event with the invocation type, token and namespace-qualified name', async () => {
    const seen: { url?: string; headers?: Record<string, unknown>; body?: string } = {};
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        Object.assign(seen, { url: req.url, headers: req.headers, body });
        res.writeHead(200, { 'x-amz-executed-version': '$LATEST' }).end('{"r":1}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const inv = new HttpInvoker({
        baseUrl: `http://127.0.0.1:${port}`,
        token: () => Promise.resolve('tok'),
      });
      const r = await inv.invoke({
        target: { namespace: 'shop', function: 'resize', qualifier: 'prod' },
        payload: b('{"Records":[]}'),
        type: 'Event',
        idempotencyKey: 'k1',
      });
      expect(r).toMatchObject({ kind: 'success', executedVersion: '$LATEST' });
      expect(seen.url).toBe('/2015-03-31/functions/shop%3Afunction%3Aresize/invocations?Qualifier=prod');
      expect(seen.headers).toMatchObject({
        authorization: 'Bearer tok',
        'x-amz-invocation-type': 'Event',
        'idempotency-key': 'k1',
      });
      expect(seen.body).toBe('{"Records":[]}');
    } finally {
      server.close();
    }
  });

  it('an unreachable endpoint is a retryable error', async () => {
    const inv = new HttpInvoker({ baseUrl: 'http://127.0.0.1:1' });
    expect(await inv.invoke({ target: { namespace: 'a', function: 'b' }, payload: b('{}') })).toMatchObject({
      kind: 'error',
      retryable: true,
    });
  });

  it('invokePath without qualifier', () =>
    expect(invokePath({ namespace: 'n', function: 'f' })).toBe(
      '/2015-03-31/functions/n%3Afunction%3Af/invocations',
    ));
});

describe('reportingAuthFailures', () => {
  const target = { namespace: 'shop', function: 'orders' };
  const answering = (r: InvokeResult): Invoker => ({ invoke: () => Promise.resolve(r) });

  it.each([
    { name: '401', status: 401, logged: 'ServiceAccount token' },
    { name: '403', status: 403, logged: 'invokePolicy' },
  ])('counts every $name, logs at error at most once per target and period', async ({ status, logged }) => {
    const counted: Record<string, string>[] = [];
    const zeroes: Record<string, string>[] = [];
    const logs: string[] = [];
    let now = 0;
    const inv = reportingAuthFailures(answering(classifyResponse(status, h({}), b('{}'))), {
      counter: { inc: (l, v = 1) => (v === 0 ? zeroes : counted).push(l) },
      log: { error: (_o, msg) => logs.push(msg) },
      logEveryMs: 1000,
      now: () => now,
    });
    for (const t of [0, 500, 1000]) {
      now = t;
      expect(await inv.invoke({ target, payload: b('{}') })).toMatchObject({
        retryable: true,
        platform: 'auth',
      });
    }
    expect(counted).toEqual(Array(3).fill({ ...target, status: String(status) }));
    // Both statuses' series exist (at 0) from the target's first call, once.
    expect(zeroes).toEqual([
      { ...target, status: '401' },
      { ...target, status: '403' },
    ]);
    expect(logs).toHaveLength(2);
    expect(logs[0]).toContain(logged);
  });

  it.each([
    { name: 'success', r: classifyResponse(200, h({}), b('{}')) },
    { name: 'a 5xx', r: classifyResponse(502, h({}), b('{}')) },
    {
      name: 'a function error',
      r: classifyResponse(200, h({ 'x-amz-function-error': 'Unhandled' }), b('{}')),
    },
  ])('leaves $name alone', async ({ r }) => {
    const counted: unknown[] = [];
    const inv = reportingAuthFailures(answering(r), {
      counter: { inc: (l, v = 1) => v !== 0 && counted.push(l) },
      log: { error: () => counted.push('log') },
    });
    expect(await inv.invoke({ target, payload: b('{}') })).toBe(r);
    expect(counted).toEqual([]);
  });
});

describe('fileToken (the projected token for the gateway)', () => {
  it('re-reads the file after a minute, so a token the kubelet rotated is picked up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-token-'));
    try {
      const path = join(dir, 'token');
      let now = 0;
      const read = fileToken(path, () => now);
      expect(await read()).toBeUndefined();
      writeFileSync(path, 'first\n');
      now = 999;
      expect(await read()).toBeUndefined();
      now = 1000;
      expect(await read()).toBe('first');
      writeFileSync(path, 'rotated\n');
      now = 60_999;
      expect(await read()).toBe('first');
      now = 61_000;
      expect(await read()).toBe('rotated');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
