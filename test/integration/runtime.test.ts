import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { budget, until } from '../support/time.js';
import {
  buildRuntime,
  REPORT_LINE,
  reportOf,
  startRuntime,
  type RuntimeOptions,
  type RuntimeProcessHandle,
} from './runtime-harness.js';

// The real sluice-runtime process, its built-in Node.js client and user code in temp dirs, all
// over loopback HTTP: every assertion is on what a caller or the pod log sees.

const running: RuntimeProcessHandle[] = [];
async function runtime(o: RuntimeOptions): Promise<RuntimeProcessHandle> {
  const rt = await startRuntime(o);
  running.push(rt);
  return rt;
}

beforeAll(() => buildRuntime(), budget(120_000));
afterEach(async () => {
  await Promise.all(running.splice(0).map((rt) => rt.stop()));
});

const CJS_ASYNC = `
let count = 0;
console.log('init of the module');
exports.handler = async (event, context) => {
  count++;
  console.log('got', JSON.stringify(event));
  return {
    event,
    count,
    context: JSON.parse(JSON.stringify(context)),
    remaining: context.getRemainingTimeInMillis(),
    clientContext: context.clientContext,
    env: {
      AWS_LAMBDA_FUNCTION_NAME: process.env.AWS_LAMBDA_FUNCTION_NAME,
      AWS_LAMBDA_FUNCTION_VERSION: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      AWS_LAMBDA_LOG_GROUP_NAME: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      AWS_LAMBDA_RUNTIME_API: process.env.AWS_LAMBDA_RUNTIME_API,
      LAMBDA_TASK_ROOT: process.env.LAMBDA_TASK_ROOT,
      _HANDLER: process.env._HANDLER,
      AWS_REGION: process.env.AWS_REGION,
      TZ: process.env.TZ,
      AWS_EXECUTION_ENV: process.env.AWS_EXECUTION_ENV,
      _X_AMZN_TRACE_ID: process.env._X_AMZN_TRACE_ID,
      MY_SETTING: process.env.MY_SETTING,
      SLUICE_FUNCTION_NAME: process.env.SLUICE_FUNCTION_NAME,
      cwd: process.cwd(),
      execArgv: process.execArgv,
    },
  };
};
`;

/**
 * A handler that, given `gate` (a file path), logs "waiting at the gate" and returns only once the
 * file exists — the test decides when a call ends, instead of racing a sleep.
 */
const GATED = `
const { existsSync } = require('node:fs');
exports.handler = async (e) => {
  if (!e.gate) return 'no gate';
  console.log('waiting at the gate');
  while (!existsSync(e.gate)) await new Promise((r) => setTimeout(r, 10));
  return e.env ? process.env.AWS_LAMBDA_RUNTIME_API : 'through the gate';
};
`;

describe('successful invocations', () => {
  it('runs an async CommonJS handler with Lambda context, environment and headers', async () => {
    const rt = await runtime({ files: { 'index.js': CJS_ASYNC }, memoryMB: 256, env: { MY_SETTING: 'on' } });
    const clientContext = { client: { app_title: 'shop' }, custom: { tier: 'gold' } };
    const sent = Date.now();
    const res = await rt.invoke(
      { order: 42 },
      {
        headers: {
          'X-Amz-Request-Id': 'req-0001',
          'X-Amz-Client-Context': Buffer.from(JSON.stringify(clientContext)).toString('base64'),
          'X-Amzn-Trace-Id': 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
        },
      },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-amz-executed-version')).toBe('$LATEST');
    expect(res.headers.get('x-amz-function-error')).toBeNull();
    const body = res.json as Record<string, any>;
    expect(body.event).toEqual({ order: 42 });
    expect(body.context).toEqual({
      callbackWaitsForEmptyEventLoop: true,
      functionVersion: '$LATEST',
      functionName: 'hello',
      memoryLimitInMB: '256',
      logGroupName: '/sluice/team-a/hello',
      logStreamName: expect.stringMatching(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\]test-pod$/),
      clientContext,
      invokedFunctionArn: 'arn:aws:lambda:sluice:team-a:function:hello',
      awsRequestId: 'req-0001',
    });
    // The 3 s deadline starts when the event is handed over — after `sent` — and the handler read
    // its remaining time before the answer came back: so at least 3 s minus the round trip.
    expect(body.remaining).toBeGreaterThanOrEqual(3000 - (Date.now() - sent));
    expect(body.remaining).toBeLessThanOrEqual(3000);
    expect(body.env).toMatchObject({
      AWS_LAMBDA_FUNCTION_NAME: 'hello',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
      AWS_LAMBDA_LOG_GROUP_NAME: '/sluice/team-a/hello',
      AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${rt.runtimeApiPort}`,
      LAMBDA_TASK_ROOT: rt.taskRoot,
      _HANDLER: 'index.handler',
      AWS_REGION: 'sluice',
      TZ: ':UTC',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
      _X_AMZN_TRACE_ID: 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
      MY_SETTING: 'on',
      cwd: rt.taskRoot,
      execArgv: ['--max-semi-space-size=2', '--max-old-space-size=252'],
    });
    expect(body.env.SLUICE_FUNCTION_NAME).toBeUndefined();

    // A qualified call keeps the caller's qualifier in the ARN; the module stays warm.
    const second = await rt.invoke(
      {},
      {
        qualifier: 'prod',
        headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      },
    );
    const b2 = second.json as Record<string, any>;
    expect(b2.context.invokedFunctionArn).toBe('arn:aws:lambda:sluice:team-a:function:hello:prod');
    expect(b2.count).toBe(2);
    expect(b2.env._X_AMZN_TRACE_ID).toBe(
      'Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1',
    );
    expect(b2.context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(second.headers.get('x-amzn-requestid')).toBe(b2.context.awsRequestId);
  });

  it('writes START, console lines, END and REPORT (Init Duration on the cold start only)', async () => {
    const rt = await runtime({ files: { 'index.js': CJS_ASYNC } });
    await rt.invoke({ n: 1 }, { headers: { 'X-Amz-Request-Id': 'cold-1' } });
    await rt.invoke({ n: 2 }, { headers: { 'X-Amz-Request-Id': 'warm-2' } });
    const cold = await reportOf(rt, 'cold-1');
    const warm = await reportOf(rt, 'warm-2');
    expect(cold).toMatch(REPORT_LINE);
    expect(warm).toMatch(REPORT_LINE);
    expect(cold).toMatch(/\tMemory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t$/);
    expect(warm).not.toContain('Init Duration');
    const lines = rt.functionLines();
    expect(lines.find((l) => l.endsWith('\tundefined\tINFO\tinit of the module'))).toMatch(
      /^\d{4}-\d\d-\d\dT[\d:.]+Z\t/,
    );
    const i = lines.indexOf('START RequestId: warm-2 Version: $LATEST');
    expect(i).toBeGreaterThanOrEqual(0);
    expect(lines[i + 1]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\twarm-2\tINFO\tgot \{"n":2\}$/);
    expect(lines[i + 2]).toBe('END RequestId: warm-2');
    expect(lines[i + 3]).toBe(warm);
    const duration = Number(/Duration: ([\d.]+) ms/.exec(warm)?.[1]);
    const billed = Number(/Billed Duration: (\d+) ms/.exec(warm)?.[1]);
    expect(billed).toBe(Math.max(1, Math.ceil(duration)));
  });

  it.each([
    {
      name: 'callback handler',
      files: {
        'index.js':
          'exports.handler = (e, ctx, cb) => { setTimeout(() => cb(null, { via: "callback", e }), 10); };',
      },
      handler: 'index.handler',
      expected: { via: 'callback', e: { x: 1 } },
    },
    {
      name: 'context.succeed',
      files: { 'index.js': 'exports.handler = (e, ctx) => { ctx.succeed({ via: "succeed" }); };' },
      handler: 'index.handler',
      expected: { via: 'succeed' },
    },
    {
      name: 'sync handler that never calls back → null',
      files: { 'index.js': 'exports.handler = (e, ctx, cb) => { };' },
      handler: 'index.handler',
      expected: null,
    },
    {
      name: 'ESM .mjs',
      files: { 'app.mjs': 'export const handler = async (e) => ({ esm: true, e });' },
      handler: 'app.handler',
      expected: { esm: true, e: { x: 1 } },
    },
    {
      name: 'ESM .js under package.json type module',
      files: {
        'package.json': '{"type":"module"}',
        'index.js': 'export async function handler(e) { return { typeModule: true }; }',
      },
      handler: 'index.handler',
      expected: { typeModule: true },
    },
    {
      name: 'CommonJS .cjs',
      files: { 'legacy.cjs': 'module.exports.handler = async () => "cjs";' },
      handler: 'legacy.handler',
      expected: 'cjs',
    },
    {
      name: 'nested path and nested export',
      files: { 'src/api/orders.js': 'exports.routes = { create: async (e) => ({ created: e.x }) };' },
      handler: 'src/api/orders.routes.create',
      expected: { created: 1 },
    },
    {
      name: 'ESM default export object',
      files: { 'index.mjs': 'export default { handler: async () => "from default" };' },
      handler: 'index.handler',
      expected: 'from default',
    },
  ])('runs a $name', async ({ files, handler, expected }) => {
    const rt = await runtime({ files, handler });
    const res = await rt.invoke({ x: 1 });
    expect(res.headers.get('x-amz-function-error')).toBeNull();
    expect(res.json).toEqual(expected);
  });

  it('runs a response-streaming handler (awslambda.streamifyResponse), buffered', async () => {
    const rt = await runtime({
      files: {
        'index.mjs': `
          export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
            responseStream.setContentType('text/plain');
            responseStream.write('hello ');
            await new Promise((r) => setTimeout(r, 20));
            responseStream.write(context.functionName);
            responseStream.end();
          });`,
      },
    });
    const res = await rt.invoke({});
    expect(res.headers.get('x-amz-function-error')).toBeNull();
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(res.text).toBe('hello hello');
  });

  it('honours callbackWaitsForEmptyEventLoop', async () => {
    const rt = await runtime({
      timeoutSeconds: 10,
      files: {
        'index.js': `
          exports.handler = (e, ctx, cb) => {
            ctx.callbackWaitsForEmptyEventLoop = e.wait;
            setTimeout(() => console.log('timer fired'), e.timerMs);
            cb(null, 'done');
          };`,
      },
    });
    // Waiting: the answer comes once the timer has fired, its line inside the invocation's log.
    const t = Date.now();
    const waited = await rt.invoke(
      { wait: true, timerMs: 700 },
      { headers: { 'X-Amz-Request-Id': 'wait-1' } },
    );
    expect(waited.json).toBe('done');
    expect(Date.now() - t).toBeGreaterThanOrEqual(650);
    await reportOf(rt, 'wait-1');
    const lines = rt.functionLines();
    const inside = lines.slice(
      lines.indexOf('START RequestId: wait-1 Version: $LATEST'),
      lines.indexOf('END RequestId: wait-1'),
    );
    expect(inside.some((l) => l.endsWith('\twait-1\tINFO\ttimer fired'))).toBe(true);
    // Not waiting: the answer comes although a 60 s timer is pending — waiting for it would have
    // run into the 10 s deadline (Sandbox.Timedout) instead.
    const answered = await rt.invoke({ wait: false, timerMs: 60_000 });
    expect(answered.headers.get('x-amz-function-error')).toBeNull();
    expect(answered.json).toBe('done');
  });

  it('returns the last 4 KB of the invocation log when Tail is asked', async () => {
    const rt = await runtime({
      files: {
        'index.js': `exports.handler = async (e) => { for (let i = 0; i < e.lines; i++) console.log('line ' + i + ' ' + 'x'.repeat(90)); return 1; };`,
      },
    });
    const small = await rt.invoke(
      { lines: 2 },
      { headers: { 'X-Amz-Log-Type': 'Tail', 'X-Amz-Request-Id': 'tail-1' } },
    );
    const tail = small.tail ?? '';
    expect(tail).toContain('START RequestId: tail-1 Version: $LATEST\n');
    expect(tail).toMatch(/\ttail-1\tINFO\tline 1 x+\n/);
    expect(tail).toContain('END RequestId: tail-1\n');
    expect(tail).toMatch(/REPORT RequestId: tail-1\tDuration: [\d.]+ ms\t.*\n$/);
    const big = await rt.invoke({ lines: 100 }, { headers: { 'X-Amz-Log-Type': 'Tail' } });
    const raw = Buffer.from(big.headers.get('x-amz-log-result') ?? '', 'base64');
    expect(raw.length).toBe(4096);
    expect(big.tail).toMatch(/line 99 x+\nEND RequestId: [\w-]+\nREPORT RequestId: [^\n]+\n$/);
    expect(big.tail).not.toContain('line 0 ');
    const none = await rt.invoke({ lines: 1 });
    expect(none.headers.get('x-amz-log-result')).toBeNull();
  });
});

function errorBody(res: { json: unknown }): { errorType: string; errorMessage: string; trace?: string[] } {
  return res.json as { errorType: string; errorMessage: string; trace?: string[] };
}

describe('function errors', () => {
  it('returns a thrown error as errorType, errorMessage and trace; the environment stays warm', async () => {
    const rt = await runtime({
      files: {
        'index.js': `let n = 0; exports.handler = async (e) => { n++; if (e.fail) { const o = undefined; return o.x; } return n; };`,
      },
    });
    const res = await rt.invoke({ fail: true }, { headers: { 'X-Amz-Request-Id': 'err-1' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-amz-function-error')).toBe('Unhandled');
    const body = errorBody(res);
    expect(body.errorType).toBe('TypeError');
    expect(body.errorMessage).toBe("Cannot read properties of undefined (reading 'x')");
    expect(body.trace?.[0]).toBe("TypeError: Cannot read properties of undefined (reading 'x')");
    expect(body.trace?.[1]).toMatch(/^ {4}at .*index\.js:1:/);
    const log = await rt.waitForLine(/\terr-1\tERROR\tInvoke Error \t\{"errorType":"TypeError"/);
    expect(log).toContain('"stack":["TypeError');
    const ok = await rt.invoke({}, { headers: { 'X-Amz-Request-Id': 'ok-2' } });
    expect(ok.json).toBe(2);
    expect(await reportOf(rt, 'ok-2')).not.toContain('Init Duration');
  });

  it.each([
    {
      name: 'callback error',
      code: 'exports.handler = (e, c, cb) => cb(new RangeError("bad range"));',
      type: 'RangeError',
      message: 'bad range',
    },
    {
      name: 'context.fail with a string',
      code: 'exports.handler = (e, c) => c.fail("nope");',
      type: 'string',
      message: 'nope',
    },
    {
      name: 'rejected non-Error',
      code: 'exports.handler = async () => { throw 42; };',
      type: 'number',
      message: '42',
    },
    {
      name: 'custom error class',
      code: 'class PaymentError extends Error { constructor(m) { super(m); this.name = "PaymentError"; } } exports.handler = async () => { throw new PaymentError("declined"); };',
      type: 'PaymentError',
      message: 'declined',
    },
    {
      name: 'unserialisable result',
      code: 'exports.handler = async () => { const a = {}; a.self = a; return a; };',
      type: 'Runtime.JSONStringifyError',
      message: 'Unable to stringify response body',
    },
    {
      name: 'async handler whose promise never settles',
      code: 'exports.handler = async () => new Promise(() => {});',
      type: 'Runtime.NodeJsExit',
      message: expect.stringContaining('Promise that was never settled'),
    },
  ])('reports a $name', async ({ code, type, message }) => {
    const rt = await runtime({ files: { 'index.js': code } });
    const res = await rt.invoke({});
    expect(res.headers.get('x-amz-function-error')).toBe('Unhandled');
    expect(errorBody(res)).toMatchObject({ errorType: type, errorMessage: message });
  });

  it('times out with Sandbox.Timedout, then the next call gets a fresh init', async () => {
    const rt = await runtime({
      timeoutSeconds: 1,
      files: {
        'index.js': `let n = 0; exports.handler = async (e) => { n++; if (e.sleep) await new Promise(r => setTimeout(r, e.sleep)); return n; };`,
      },
    });
    expect((await rt.invoke({})).json).toBe(1);
    // The handler would sleep 10 minutes: only the 1 s deadline can answer this call.
    const res = await rt.invoke({ sleep: 600_000 }, { headers: { 'X-Amz-Request-Id': 'slow-1' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-amz-function-error')).toBe('Unhandled');
    expect(res.json).toEqual({
      errorType: 'Sandbox.Timedout',
      errorMessage: 'RequestId: slow-1 Error: Task timed out after 1.00 seconds',
    });
    await rt.waitForLine(/^\d{4}-\d\d-\d\dT[\d:.]+Z slow-1 Task timed out after 1\.00 seconds$/);
    const report = await reportOf(rt, 'slow-1');
    expect(Number(/Duration: ([\d.]+) ms/.exec(report)?.[1])).toBeGreaterThanOrEqual(1000);
    // Fresh environment: module state starts over and the REPORT shows an init.
    const next = await rt.invoke({}, { headers: { 'X-Amz-Request-Id': 'after-timeout' } });
    expect(next.json).toBe(1);
    expect(await reportOf(rt, 'after-timeout')).toMatch(/Init Duration: [\d.]+ ms\t$/);
  });

  it('kills the processes a function started when its environment is reset', async () => {
    const rt = await runtime({
      timeoutSeconds: 1,
      files: {
        'index.js': `
          const { spawn } = require('node:child_process');
          exports.handler = async (e) => {
            if (e.spawn) return spawn('sleep', ['60'], { stdio: 'inherit' }).pid;
            await new Promise((r) => setTimeout(r, 5000));
          };`,
      },
    });
    const pid = (await rt.invoke({ spawn: true })).json as number;
    const alive = (): boolean => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return !/\) [ZX] /.test(stat);
      } catch {
        return false;
      }
    };
    expect(alive()).toBe(true);
    expect(errorBody(await rt.invoke({})).errorType).toBe('Sandbox.Timedout');
    await until(() => !alive(), `process ${pid} gone`, 3000);
    expect((await rt.invoke({ spawn: true })).status).toBe(200);
  });

  it('reports a crash (process.exit) as Runtime.ExitError and starts a fresh environment', async () => {
    const rt = await runtime({
      files: {
        'index.js': `let n = 0; exports.handler = async (e) => { n++; if (e.exit) process.exit(e.exit); return n; };`,
      },
    });
    expect((await rt.invoke({})).json).toBe(1);
    const res = await rt.invoke({ exit: 1 }, { headers: { 'X-Amz-Request-Id': 'crash-1' } });
    expect(res.headers.get('x-amz-function-error')).toBe('Unhandled');
    expect(res.json).toEqual({
      errorType: 'Runtime.ExitError',
      errorMessage: 'RequestId: crash-1 Error: Runtime exited with error: exit status 1',
    });
    expect((await rt.invoke({})).json).toBe(1);
  });

  it('kills a function that uses more than its memory size: Runtime.ExitError, then a fresh environment', async () => {
    const rt = await runtime({
      memoryMB: 128,
      files: {
        'index.js': `
          const hold = [];
          exports.handler = async (e) => {
            if (!e.grow) return 'small';
            for (let i = 0; i < 100; i++) { hold.push(Buffer.alloc(16 * 1024 * 1024, 1)); await new Promise(r => setTimeout(r, 20)); }
            return 'survived';
          };`,
      },
    });
    const res = await rt.invoke({ grow: true }, { headers: { 'X-Amz-Request-Id': 'oom-1' } });
    expect(res.headers.get('x-amz-function-error')).toBe('Unhandled');
    expect(res.json).toEqual({
      errorType: 'Runtime.ExitError',
      errorMessage: 'RequestId: oom-1 Error: Runtime exited with error: signal: killed',
    });
    expect(await reportOf(rt, 'oom-1')).toContain('\tMemory Size: 128 MB\tMax Memory Used: 128 MB\t');
    expect((await rt.invoke({})).json).toBe('small');
  });

  it('reports an uncaught exception from a timer and an unhandled rejection, each followed by a fresh environment', async () => {
    const rt = await runtime({
      files: {
        'index.js': `
          exports.handler = (e, ctx, cb) => {
            if (e.kind === 'throw') setTimeout(() => { throw new SyntaxError('late'); }, 5);
            else if (e.kind === 'reject') Promise.reject(new Error('forgotten'));
            else cb(null, 'fine');
          };`,
      },
    });
    const thrown = await rt.invoke({ kind: 'throw' });
    expect(errorBody(thrown)).toMatchObject({ errorType: 'SyntaxError', errorMessage: 'late' });
    expect((await rt.invoke({})).json).toBe('fine');
    const rejected = await rt.invoke({ kind: 'reject' });
    expect(errorBody(rejected)).toMatchObject({
      errorType: 'Runtime.UnhandledPromiseRejection',
      errorMessage: 'Error: forgotten',
    });
    expect((await rt.invoke({})).json).toBe('fine');
  });

  it('returns Function.ResponseSizeTooLarge for a result over 6 MB', async () => {
    const rt = await runtime({
      files: { 'index.js': `exports.handler = async () => 'x'.repeat(7 * 1024 * 1024);` },
    });
    const res = await rt.invoke({});
    expect(res.headers.get('x-amz-function-error')).toBe('Unhandled');
    expect(res.json).toEqual({
      errorType: 'Function.ResponseSizeTooLarge',
      errorMessage: 'Response payload size exceeded maximum allowed payload size (6291556 bytes).',
    });
  });
});

describe('init errors', () => {
  it.each([
    {
      name: 'syntax error in the module',
      files: { 'index.js': 'exports.handler = async () => { return 1 ;; }}' },
      handler: 'index.handler',
      type: 'Runtime.UserCodeSyntaxError',
      message: /^SyntaxError: Unexpected token '}'$/,
    },
    {
      name: 'missing handler export',
      files: { 'index.js': 'exports.other = async () => 1;' },
      handler: 'index.handler',
      type: 'Runtime.HandlerNotFound',
      message: /^index\.handler is undefined or not exported$/,
    },
    {
      name: 'handler that is not a function',
      files: { 'index.js': 'exports.handler = 42;' },
      handler: 'index.handler',
      type: 'Runtime.HandlerNotFound',
      message: /^index\.handler is not a function$/,
    },
    {
      name: 'missing module',
      files: { 'other.js': '' },
      handler: 'index.handler',
      type: 'Runtime.ImportModuleError',
      message: /^Error: Cannot find module 'index'/,
    },
    {
      name: 'missing dependency of the module',
      files: { 'index.js': 'require("left-pad-not-installed"); exports.handler = async () => 1;' },
      handler: 'index.handler',
      type: 'Runtime.ImportModuleError',
      message: /^Error: Cannot find module 'left-pad-not-installed'/,
    },
    {
      name: 'malformed handler name',
      files: { 'index.js': 'exports.handler = async () => 1;' },
      handler: 'index',
      type: 'Runtime.MalformedHandlerName',
      message: /^Bad handler$/,
    },
    {
      name: 'handler path with ..',
      files: { 'index.js': 'exports.handler = async () => 1;' },
      handler: '../index.handler',
      type: 'Runtime.MalformedHandlerName',
      message: /^'\.\.\/index\.handler' is not a valid handler name\. Use absolute paths/,
    },
    {
      name: 'error thrown while the module loads',
      files: { 'index.js': 'throw new Error("no config"); exports.handler = async () => 1;' },
      handler: 'index.handler',
      type: 'Error',
      message: /^no config$/,
    },
  ])(
    'returns the $name for every invocation, re-initialising each time',
    async ({ files, handler, type, message }) => {
      const rt = await runtime({ files, handler });
      for (const id of ['init-a', 'init-b']) {
        const res = await rt.invoke({}, { headers: { 'X-Amz-Request-Id': id, 'X-Amz-Log-Type': 'Tail' } });
        // The log of the failed init (before START, or inside it when the init ran during the call)
        // comes with the invocation that reports it.
        const initLine = `\tundefined\tERROR\tUncaught Exception \t{"errorType":"${type}"`;
        expect(res.tail).toContain(initLine);
        expect(res.tail).toContain(`START RequestId: ${id} Version: $LATEST\n`);
        expect(res.status).toBe(200);
        expect(res.headers.get('x-amz-function-error')).toBe('Unhandled');
        const body = errorBody(res);
        expect(body.errorType).toBe(type);
        expect(body.errorMessage).toMatch(message);
        expect(Array.isArray(body.trace)).toBe(true);
        expect(await reportOf(rt, id)).toMatch(REPORT_LINE);
      }
      await rt.waitForLine(
        new RegExp(
          `\\tundefined\\tERROR\\tUncaught Exception \\t\\{"errorType":"${type.replace('.', '\\.')}"`,
        ),
      );
      const inits = rt.lines.filter((l) => l.includes('Uncaught Exception')).length;
      expect(inits).toBeGreaterThanOrEqual(2);
    },
  );

  it('rejects a callback handler on nodejs24 with Runtime.CallbackHandlerDeprecated', async () => {
    const rt = await runtime({
      runtime: 'nodejs24',
      files: { 'index.js': 'exports.handler = (e, c, cb) => cb(null, 1);' },
    });
    const res = await rt.invoke({});
    expect(errorBody(res).errorType).toBe('Runtime.CallbackHandlerDeprecated');
    const ok = await runtime({
      runtime: 'nodejs24',
      files: {
        'index.js':
          'exports.handler = async (e, c) => [c.functionName, c.callbackWaitsForEmptyEventLoop, typeof c.succeed, process.env.AWS_EXECUTION_ENV];',
      },
    });
    expect((await ok.invoke({})).json).toEqual(['hello', null, 'undefined', 'AWS_Lambda_nodejs24.x']);
  });
});

describe('invoke endpoint and Runtime API contract', () => {
  it('answers 429 TooManyRequestsException while the only environment is busy', async () => {
    const rt = await runtime({ files: { 'index.js': GATED }, timeoutSeconds: 60 });
    const gate = path.join(rt.taskRoot, 'open');
    const slow = rt.invoke({ gate });
    await rt.waitForLine(/\tINFO\twaiting at the gate$/);
    const busy = await rt.invoke({});
    expect(busy.status).toBe(429);
    expect(busy.headers.get('x-amzn-errortype')).toBe('TooManyRequestsException');
    expect(busy.headers.get('retry-after')).toBe('1');
    expect(busy.json).toEqual({
      Type: 'User',
      message: 'Rate Exceeded.',
      Reason: 'ConcurrentInvocationLimitExceeded',
    });
    writeFileSync(gate, '');
    expect((await slow).json).toBe('through the gate');
    expect((await rt.invoke({})).json).toBe('no gate');
  });

  it('runs a pool of environments when concurrency > 1', async () => {
    const rt = await runtime({ concurrency: 2, files: { 'index.js': GATED }, timeoutSeconds: 60 });
    const gate = path.join(rt.taskRoot, 'open');
    const calls = Promise.all([rt.invoke({ gate, env: true }), rt.invoke({ gate, env: true })]);
    // Both calls wait at the gate at once: each has an environment of its own.
    await until(
      () => rt.functionLines().filter((l) => l.endsWith('\tINFO\twaiting at the gate')).length === 2,
      'both calls at the gate',
    );
    writeFileSync(gate, '');
    const [a, b] = await calls;
    expect(new Set([a.json, b.json])).toEqual(
      new Set([`127.0.0.1:${rt.runtimeApiPort}`, `127.0.0.1:${rt.runtimeApiPort + 1}`]),
    );
  });

  it('validates requests: size, client context, invocation type, DryRun, unknown paths, probes', async () => {
    const rt = await runtime({ files: { 'index.js': 'exports.handler = async (e) => e;' } });
    const big = await rt.invoke(undefined, { raw: 'x'.repeat(6 * 1024 * 1024 + 101) });
    expect(big.status).toBe(413);
    expect(big.headers.get('x-amzn-errortype')).toBe('RequestTooLargeException');
    const cc = await rt.invoke(
      {},
      { headers: { 'X-Amz-Client-Context': Buffer.from('not json').toString('base64') } },
    );
    expect(cc.status).toBe(400);
    expect(cc.headers.get('x-amzn-errortype')).toBe('InvalidRequestContentException');
    const ev = await rt.invoke({}, { headers: { 'X-Amz-Invocation-Type': 'Event' } });
    expect(ev.status).toBe(400);
    expect(ev.headers.get('x-amzn-errortype')).toBe('InvalidParameterValueException');
    const dry = await rt.invoke({}, { headers: { 'X-Amz-Invocation-Type': 'DryRun' } });
    expect(dry.status).toBe(204);
    const q = await rt.invoke({}, { qualifier: 'bad/qualifier' });
    expect(q.status).toBe(400);
    expect((await fetch(rt.url('/nope'))).status).toBe(404);
    expect((await fetch(rt.url('/healthz'))).status).toBe(200);
    expect((await fetch(rt.url('/readyz'))).status).toBe(200);
    // The gateway may put the real function name in the path.
    const named = await fetch(rt.url('/2015-03-31/functions/hello/invocations'), {
      method: 'POST',
      body: '"hi"',
    });
    expect(await named.json()).toBe('hi');
  });

  it('answers out-of-order Runtime API calls with the reference status codes and bodies', async () => {
    const rt = await runtime({ files: { 'index.js': 'exports.handler = async () => 1;' } });
    const api = `http://127.0.0.1:${rt.runtimeApiPort}/2018-06-01/runtime`;
    const unknown = await fetch(`${api}/invocation/no-such-id/response`, { method: 'POST', body: '{}' });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toEqual({
      errorMessage: 'Invalid request ID',
      errorType: 'InvalidRequestID',
    });
    const err = await fetch(`${api}/invocation/no-such-id/error`, { method: 'POST', body: '{}' });
    expect(err.status).toBe(400);
    const initErr = await fetch(`${api}/init/error`, { method: 'POST', body: '{}' });
    expect(initErr.status).toBe(403);
    expect(((await initErr.json()) as { errorType: string }).errorType).toBe('InvalidStateTransition');
    // The client already waits in `next`: a second poller is refused.
    const next = await fetch(`${api}/invocation/next`);
    expect(next.status).toBe(403);
    const mode = await fetch(`${api}/invocation/x/response`, {
      method: 'POST',
      body: '{}',
      headers: { 'Lambda-Runtime-Function-Response-Mode': 'weird' },
    });
    expect(mode.status).toBe(400);
    expect(await mode.json()).toEqual({
      errorMessage: 'Invalid function response mode',
      errorType: 'InvalidFunctionResponseMode',
    });
    expect((await rt.invoke({})).json).toBe(1);
  });

  it('serves a hand-written custom runtime (provided): next headers, streamed error trailers, answered ids', async () => {
    // The test process itself plays the custom runtime, so no reset must happen here (it would be killed).
    const rt = await runtime({ runtime: 'provided', files: {}, waitReady: false, timeoutSeconds: 30 });
    const api = `http://127.0.0.1:${rt.runtimeApiPort}/2018-06-01/runtime`;
    const next = async (): Promise<{ id: string; res: Response }> => {
      const res = await fetch(`${api}/invocation/next`);
      return { id: res.headers.get('lambda-runtime-aws-request-id') ?? '', res };
    };
    let poll = next();
    await rt.waitReady();
    const cc = Buffer.from(JSON.stringify({ custom: { a: 1 } })).toString('base64');
    const called = Date.now();
    const call = rt.invoke(
      { q: 1 },
      { qualifier: 'live', headers: { 'X-Amz-Request-Id': 'raw-1', 'X-Amz-Client-Context': cc } },
    );
    const { id, res } = await poll;
    expect(id).toBe('raw-1');
    expect(await res.json()).toEqual({ q: 1 });
    expect(res.headers.get('lambda-runtime-invoked-function-arn')).toBe(
      'arn:aws:lambda:sluice:team-a:function:hello:live',
    );
    expect(res.headers.get('lambda-runtime-client-context')).toBe('{"custom":{"a":1}}');
    expect(res.headers.get('lambda-runtime-trace-id')).toMatch(
      /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/,
    );
    expect(res.headers.get('lambda-runtime-cognito-identity')).toBeNull();
    const deadline = Number(res.headers.get('lambda-runtime-deadline-ms'));
    // Set to 30 s after the event was handed over: after the call was made, before it was read here.
    expect(deadline).toBeGreaterThanOrEqual(called + 30_000);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 30_000);
    // A streamed response whose trailers carry an error.
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${api}/invocation/${id}/response`,
        {
          method: 'POST',
          headers: {
            'Lambda-Runtime-Function-Response-Mode': 'streaming',
            'Transfer-Encoding': 'chunked',
            Trailer: 'Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body',
          },
        },
        (r) => {
          r.resume();
          r.on('end', () => resolve(r.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.write('partial');
      req.addTrailers({
        'Lambda-Runtime-Function-Error-Type': 'Stream.Broken',
        'Lambda-Runtime-Function-Error-Body': Buffer.from(
          '{"errorType":"Stream.Broken","errorMessage":"mid-stream"}',
        ).toString('base64'),
      });
      req.end();
    });
    expect(status).toBe(202);
    const out = await call;
    expect(out.headers.get('x-amz-function-error')).toBe('Unhandled');
    expect(out.json).toEqual({ errorType: 'Stream.Broken', errorMessage: 'mid-stream' });
    const again = await fetch(`${api}/invocation/${id}/response`, { method: 'POST', body: '1' });
    expect(again.status).toBe(400);
    // Next round: a plain error post with only the header.
    poll = next();
    const call2 = rt.invoke({}, { headers: { 'X-Amz-Request-Id': 'raw-2' } });
    const second = await poll;
    await second.res.arrayBuffer();
    const posted = await fetch(`${api}/invocation/${second.id}/error`, {
      method: 'POST',
      headers: { 'Lambda-Runtime-Function-Error-Type': 'Custom.Bad' },
    });
    expect(posted.status).toBe(202);
    expect((await call2).json).toEqual({
      errorType: 'Custom.Bad',
      errorMessage: 'Unknown application error occurred',
    });
  });

  it('exposes duration, init and cold-start metrics', async () => {
    const rt = await runtime({ files: { 'index.js': 'exports.handler = async () => 1;' } });
    await rt.invoke({});
    await rt.invoke({});
    const text = await (await fetch(`http://127.0.0.1:${rt.metricsPort}/metrics`)).text();
    const value = (name: string, labels: Record<string, string>): number | undefined => {
      const want = { namespace: 'team-a', function: 'hello', version: '$LATEST', ...labels };
      for (const line of text.split('\n')) {
        const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const got = Object.fromEntries(
          [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]),
        );
        if (Object.entries(want).every(([k, v]) => got[k] === v)) return Number(m[3]);
      }
      return undefined;
    };
    expect(value('sluice_cold_starts_total', {})).toBe(1);
    expect(value('sluice_invocation_duration_seconds_count', {})).toBe(2);
    expect(value('sluice_init_duration_seconds_count', { result: 'success' })).toBe(1);
    expect(value('sluice_runtime_invocations_total', { outcome: 'success' })).toBe(2);
    expect(value('sluice_concurrent_executions', {})).toBe(0);
  });

  it('stops its function process on SIGTERM', async () => {
    const rt = await runtime({ files: { 'index.js': 'exports.handler = async () => process.pid;' } });
    const pid = (await rt.invoke({})).json as number;
    await rt.stop();
    running.splice(running.indexOf(rt), 1);
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
