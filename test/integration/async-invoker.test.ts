import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptClientContext, HttpFunctionInvoker } from '../../gateway/async/invoker.js';

// HttpFunctionInvoker against a loopback HTTP server standing in for a runtime's invoke endpoint
// (async-runtime.test.ts runs it against the real runtime).

describe('HttpFunctionInvoker', () => {
  let server: Server;
  let base = '';
  const seen: { url: string; headers: Record<string, unknown>; body: string }[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
        if (req.url?.includes('slow')) return; // never answers
        res.writeHead(200, { 'x-amz-executed-version': '$LATEST' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const a = server.address();
    base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('sends the request id, the attempt in the client context, trace context and the qualifier', async () => {
    const inv = new HttpFunctionInvoker({ baseUrl: base });
    const out = await inv.invoke({
      namespace: 'ns',
      function: 'f',
      qualifier: 'prod',
      payload: Buffer.from('{"a":1}'),
      requestId: 'req-1',
      approximateInvokeCount: 3,
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      deadlineMs: Date.now() + 60_000, // never reached: the server answers at once
    });
    expect(out).toMatchObject({ kind: 'success', executedVersion: '$LATEST' });
    const req = seen.at(-1)!;
    expect(req.url).toBe('/2015-03-31/functions/function/invocations?Qualifier=prod');
    expect(req.body).toBe('{"a":1}');
    expect(req.headers['x-amz-request-id']).toBe('req-1');
    expect(req.headers['x-amz-client-context']).toBe(attemptClientContext(3));
    expect(JSON.parse(Buffer.from(String(req.headers['x-amz-client-context']), 'base64').toString())).toEqual(
      {
        custom: { approximateInvokeCount: 3 },
      },
    );
    expect(req.headers['x-sluice-approximate-invoke-count']).toBe('3');
    expect(req.headers.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  });

  it('a call past its deadline is a Sandbox.Timedout function error; an unreachable endpoint a system error', async () => {
    const slow = new HttpFunctionInvoker({ baseUrl: `${base}/slow`, slackMs: 50 });
    const req = {
      namespace: 'ns',
      function: 'f',
      payload: Buffer.from('{}'),
      requestId: 'r',
      approximateInvokeCount: 1,
    };
    expect(await slow.invoke({ ...req, deadlineMs: Date.now() + 100 })).toMatchObject({
      kind: 'function_error',
      errorType: 'Sandbox.Timedout',
    });
    const gone = new HttpFunctionInvoker({ baseUrl: 'http://127.0.0.1:1' });
    // A deadline far off: the refused connection, not the clock, decides the outcome.
    expect(await gone.invoke({ ...req, deadlineMs: Date.now() + 60_000 })).toMatchObject({
      kind: 'system_error',
    });
  });
});
