import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  buildRuntime,
  REPORT_LINE,
  reportOf,
  ROOT,
  startRuntime,
  type RuntimeProcessHandle,
} from './runtime-harness.js';
import { budget, until } from '../support/time.js';

// runtime: provided — sluice-runtime spawns nothing; an unmodified custom runtime, AWS's Node.js
// Runtime Interface Client from npm (`aws-lambda-ric`), runs as a separate process (in a pod: the
// function's own container) and talks to sluice-runtime's Runtime API over loopback.

const RIC = path.join(ROOT, 'node_modules', 'aws-lambda-ric', 'index.mjs');

const HANDLERS = `
export const handler = async (event, context) => {
  console.log('custom runtime got', JSON.stringify(event));
  if (event.sleep) await new Promise((r) => setTimeout(r, event.sleep));
  if (event.fail) throw new TypeError('custom failure');
  if (event.exit) process.exit(event.exit);
  return {
    fromRic: true,
    event,
    functionName: context.functionName,
    memoryLimitInMB: context.memoryLimitInMB,
    invokedFunctionArn: context.invokedFunctionArn,
    awsRequestId: context.awsRequestId,
    remaining: context.getRemainingTimeInMillis(),
    trace: process.env._X_AMZN_TRACE_ID,
  };
};
`;

const procs: ChildProcess[] = [];
const runtimes: RuntimeProcessHandle[] = [];

/** Starts the custom runtime the way the function container's entry point would. */
function startRic(
  rt: RuntimeProcessHandle,
  handler = 'index.handler',
): { child: ChildProcess; exited: Promise<NodeJS.Signals | number | null>; output: string[] } {
  const output: string[] = [];
  const child = spawn(process.execPath, [RIC], {
    cwd: rt.taskRoot,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${rt.runtimeApiPort}`,
      _HANDLER: handler,
      LAMBDA_TASK_ROOT: rt.taskRoot,
      AWS_LAMBDA_FUNCTION_NAME: 'hello',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
      AWS_LAMBDA_LOG_GROUP_NAME: '/sluice/team-a/hello',
      AWS_LAMBDA_LOG_STREAM_NAME: 'stream',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.setEncoding('utf8').on('data', (c: string) => output.push(c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => output.push(c));
  procs.push(child);
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code)),
  );
  return { child, exited, output };
}

async function providedRuntime(timeoutSeconds = 3, initTimeoutSeconds = 20): Promise<RuntimeProcessHandle> {
  const rt = await startRuntime({
    runtime: 'provided',
    timeoutSeconds,
    files: { 'index.mjs': HANDLERS },
    waitReady: false,
    env: { SLUICE_INIT_TIMEOUT_SECONDS: String(initTimeoutSeconds) },
  });
  runtimes.push(rt);
  return rt;
}

/** Finished inits of the runtime's environments with `result`, from its metrics. */
async function initsOf(rt: RuntimeProcessHandle, result: 'success' | 'error'): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${rt.metricsPort}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('sluice_init_duration_seconds_count{') && l.includes(`result="${result}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

beforeAll(() => {
  buildRuntime();
  expect(existsSync(RIC), 'npm package aws-lambda-ric is installed (devDependency)').toBe(true);
}, budget(120_000));

afterEach(async () => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await Promise.all(runtimes.splice(0).map((rt) => rt.stop()));
});

describe('runtime: provided with aws-lambda-ric', () => {
  it('is not ready until the custom runtime connects, then serves its handler through the invoke endpoint', async () => {
    const rt = await providedRuntime();
    expect((await fetch(rt.url('/healthz'))).status).toBe(200);
    expect((await fetch(rt.url('/readyz'))).status).toBe(503);
    startRic(rt);
    await rt.waitReady();
    const sent = Date.now();
    const res = await rt.invoke(
      { hello: 'ric' },
      {
        qualifier: '7',
        headers: {
          'X-Amz-Request-Id': 'ric-1',
          'X-Amz-Log-Type': 'Tail',
          'X-Amzn-Trace-Id': 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
        },
      },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-amz-function-error')).toBeNull();
    expect(res.json).toMatchObject({
      fromRic: true,
      event: { hello: 'ric' },
      functionName: 'hello',
      memoryLimitInMB: '128',
      invokedFunctionArn: 'arn:aws:lambda:sluice:team-a:function:hello:7',
      awsRequestId: 'ric-1',
      trace: 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
    });
    // The 3 s deadline starts when the event is handed over (after `sent`); the handler read its
    // remaining time before the answer came back.
    const { remaining } = res.json as { remaining: number };
    expect(remaining).toBeGreaterThanOrEqual(3000 - (Date.now() - sent));
    expect(remaining).toBeLessThanOrEqual(3000);
    const report = await reportOf(rt, 'ric-1');
    expect(report).toMatch(REPORT_LINE);
    expect(report).toMatch(/Max Memory Used: [1-9]\d* MB\tInit Duration: [\d.]+ ms\t$/);
    expect(res.tail).toMatch(
      /^START RequestId: ric-1 Version: \$LATEST\nEND RequestId: ric-1\nREPORT RequestId: ric-1\t/,
    );
    const second = await rt.invoke({ n: 2 }, { headers: { 'X-Amz-Request-Id': 'ric-2' } });
    expect(second.json).toMatchObject({ fromRic: true, event: { n: 2 } });
    expect(await reportOf(rt, 'ric-2')).not.toContain('Init Duration');
  });

  it('accepts a custom runtime that connects after the init timeout passed with no invocation waiting', async () => {
    // E.g. the function container starts late (image pull): its runtime is a fresh process.
    const rt = await providedRuntime(3, 1);
    await rt.waitForLine(/init did not finish in 1 s/);
    const ric = startRic(rt);
    // It connects and waits for an event (it used to get 403 on invocation/next and exit): its
    // first invocation/next completes an init.
    await until(
      async () => (await initsOf(rt, 'success')) === 1,
      () => `the custom runtime waiting for an event; its output: ${ric.output.join('')}`,
    );
    expect(ric.child.exitCode, ric.output.join('')).toBeNull();
    const res = await rt.invoke({ late: true });
    expect(res.headers.get('x-amz-function-error')).toBeNull();
    expect(res.json).toMatchObject({ fromRic: true, event: { late: true } });
  });

  it('passes a function error through as the custom runtime posted it', async () => {
    const rt = await providedRuntime();
    startRic(rt);
    await rt.waitReady();
    const res = await rt.invoke({ fail: true });
    expect(res.headers.get('x-amz-function-error')).toBe('Unhandled');
    expect(res.json).toMatchObject({ errorType: 'TypeError', errorMessage: 'custom failure' });
    expect((res.json as { trace: string[] }).trace[0]).toBe('TypeError: custom failure');
    expect((await rt.invoke({ n: 1 })).json).toMatchObject({ fromRic: true });
  });

  it('times out, stops the custom runtime process, and serves the next call from a restarted one', async () => {
    const rt = await providedRuntime(1);
    const first = startRic(rt);
    await rt.waitReady();
    const res = await rt.invoke({ sleep: 10_000 }, { headers: { 'X-Amz-Request-Id': 'ric-slow' } });
    expect(res.json).toEqual({
      errorType: 'Sandbox.Timedout',
      errorMessage: 'RequestId: ric-slow Error: Task timed out after 1.00 seconds',
    });
    // The pod's container would be restarted by the kubelet; here the test restarts it.
    expect(await first.exited).toBe('SIGKILL');
    // The call arrives before a custom runtime is there to take it.
    const pending = rt.invoke({ n: 3 }, { headers: { 'X-Amz-Request-Id': 'ric-after' } });
    await rt.waitForLine(/^START RequestId: ric-after /);
    startRic(rt);
    expect((await pending).json).toMatchObject({ fromRic: true, event: { n: 3 } });
    expect(await reportOf(rt, 'ric-after')).toMatch(/Init Duration: [\d.]+ ms\t$/);
  });

  it('reports the custom runtime process ending mid-invocation as Runtime.ExitError', async () => {
    const rt = await providedRuntime();
    const ric = startRic(rt);
    await rt.waitReady();
    const res = await rt.invoke({ exit: 3 }, { headers: { 'X-Amz-Request-Id': 'ric-exit' } });
    expect(res.json).toEqual({
      errorType: 'Runtime.ExitError',
      errorMessage: 'RequestId: ric-exit Error: Runtime exited without providing a reason',
    });
    expect(await ric.exited).toBe(3);
  });

  it('returns the init error the custom runtime posts to /init/error', async () => {
    const rt = await providedRuntime();
    const ric = startRic(rt, 'index.missing');
    await rt.waitReady();
    const res = await rt.invoke({}, { headers: { 'X-Amz-Request-Id': 'ric-init' } });
    expect(res.headers.get('x-amz-function-error')).toBe('Unhandled');
    expect(res.json).toMatchObject({
      errorType: 'Runtime.HandlerNotFound',
      errorMessage: 'index.missing is undefined or not exported',
    });
    await ric.exited;
  });
});
