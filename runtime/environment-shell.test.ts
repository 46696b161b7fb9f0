import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../lib/log.js';
import type { RuntimeSettings } from './config.js';
import { Environment, type InvokeRequest, type InvokeResult, type ProcessSource } from './environment.js';
import { FunctionLog } from './function-log.js';
import type { ExitStatus, RuntimeProcess } from './process.js';

// The shell around environment-machine.ts with fakes of its narrow interfaces (the process, the
// held `invocation/next` response): the paths the integration tests cannot time.

class FakeProcess implements RuntimeProcess {
  readonly pid = 4242;
  readonly startedAt = Date.now();
  readonly exited: Promise<ExitStatus>;
  killed = false;
  /** When false, kill() signals but the process ends only on end(). */
  endsOnKill = true;
  private done!: (s: ExitStatus) => void;
  constructor() {
    this.exited = new Promise((r) => (this.done = r));
  }
  end(code: number | null = 0, signal: NodeJS.Signals | null = null): void {
    this.done({ code, signal });
  }
  kill(): boolean {
    this.killed = true;
    if (this.endsOnKill) this.end(null, 'SIGKILL');
    return true;
  }
  terminate(): void {
    this.end(null, 'SIGTERM');
  }
  freeze(): void {}
  thaw(): void {}
  peakRssBytes(): number {
    return 1024 * 1024;
  }
  rssBytes(): number {
    return 1024;
  }
}

class FakeResponse extends EventEmitter {
  status?: number;
  headers: Record<string, string> = {};
  body?: Buffer;
  destroyed = false;
  writeHead(status: number, headers: Record<string, string>): this {
    this.status = status;
    this.headers = headers;
    return this;
  }
  end(body: Buffer): void {
    this.body = body;
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

const settings = (o: Partial<RuntimeSettings> = {}): RuntimeSettings => ({
  functionName: 'hello',
  namespace: 'team-a',
  version: '$LATEST',
  handler: 'index.handler',
  runtime: 'nodejs22',
  memoryMB: 128,
  timeoutSeconds: 0.05,
  initTimeoutSeconds: 5,
  taskRoot: '/var/task',
  runtimeApiHost: '127.0.0.1',
  runtimeApiPort: 9001,
  concurrency: 1,
  region: 'sluice',
  nodeBinary: 'node',
  clientEntry: '/client.js',
  freezeIdle: false,
  logGroupName: '/sluice/team-a/hello',
  logStreamName: 'stream',
  functionEnv: {},
  ...o,
});

interface Harness {
  env: Environment;
  procs: FakeProcess[];
  /** Error-level lines of the environment's logger (an event out of place lands here). */
  errors: string[];
  inits: boolean[];
}

const made: Environment[] = [];
afterEach(async () => {
  await Promise.all(made.splice(0).map((e) => e.close()));
});

function harness(o: Partial<RuntimeSettings> = {}): Harness {
  const procs: FakeProcess[] = [];
  const errors: string[] = [];
  const inits: boolean[] = [];
  const s = settings(o);
  const spawn = (): FakeProcess => {
    const p = new FakeProcess();
    procs.push(p);
    return p;
  };
  const source: ProcessSource =
    s.runtime === 'provided' ? { start: () => undefined, adopt: () => spawn() } : { start: () => spawn() };
  const logger = createLogger({
    component: 'test',
    level: 'error',
    destination: { write: (line: string) => void errors.push(line) },
  });
  const env = new Environment(0, s, source, new FunctionLog({ write: () => true }), logger, {
    invocation: () => undefined,
    init: (_ms, ok) => void inits.push(ok),
  });
  made.push(env);
  return { env, procs, errors, inits };
}

const request = (requestId: string): InvokeRequest => ({
  requestId,
  event: Buffer.from('{}'),
  invokedFunctionArn: 'arn:aws:lambda:sluice:team-a:function:hello',
  traceId: '',
  tail: false,
});

function poll(env: Environment, port?: number): FakeResponse {
  const res = new FakeResponse();
  env.next(res as unknown as ServerResponse, port);
  return res;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Environment (the shell)', () => {
  it('reports the init on the first invocation only', async () => {
    const { env, procs, errors, inits } = harness();
    const started = env.start();
    poll(env);
    await started;
    expect(env.ready).toBe(true);
    expect(env.warm).toBe(true);
    const first = env.invoke(request('r1'));
    env.response('r1', Buffer.from('1'), false);
    expect((await first).initDurationMs).toBeGreaterThanOrEqual(0);
    const held = poll(env);
    const second = env.invoke(request('r2'));
    expect(held.headers['Lambda-Runtime-Aws-Request-Id']).toBe('r2');
    env.response('r2', Buffer.from('2'), false);
    const r2: InvokeResult = await second;
    expect(r2).toMatchObject({ kind: 'success', body: Buffer.from('2'), initDurationMs: undefined });
    expect({ spawned: procs.length, inits, errors }).toEqual({ spawned: 1, inits: [true], errors: [] });
  });

  it('gives an invocation that waits for `next` a fresh process when the old one ends (a cold start)', async () => {
    const { env, procs, errors } = harness();
    const started = env.start();
    poll(env);
    await started;
    const first = env.invoke(request('r1'));
    env.response('r1', Buffer.from('1'), false);
    await first;
    // The runtime has not asked for the next event yet when the call comes, then its process ends.
    const waiting = env.invoke(request('r2'));
    procs[0]!.end(1);
    await tick();
    expect(procs).toHaveLength(2);
    const held = poll(env);
    expect(held.headers['Lambda-Runtime-Aws-Request-Id']).toBe('r2');
    env.response('r2', Buffer.from('2'), false);
    expect((await waiting).initDurationMs).toBeGreaterThanOrEqual(0);
    expect(errors).toEqual([]);
  });

  it('times out, resets, and starts the next init once the killed process has ended', async () => {
    const { env, procs, errors } = harness();
    const started = env.start();
    poll(env);
    await started;
    const result = await env.invoke(request('slow'));
    expect(result.kind).toBe('timeout');
    expect(procs[0]!.killed).toBe(true);
    expect(procs).toHaveLength(2);
    expect(env.warm).toBe(false);
    expect(() => env.response('slow', Buffer.from('late'), false)).toThrow('Invalid request ID');
    expect(errors).toEqual([]);
  });

  it('refuses a second invocation while one runs, leaving the first untouched', async () => {
    const { env, errors } = harness();
    const started = env.start();
    poll(env);
    await started;
    const first = env.invoke(request('r1'));
    await expect(env.invoke(request('r2'))).rejects.toThrow('it is running');
    env.response('r1', Buffer.from('1'), false);
    expect((await first).kind).toBe('success');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('out of place');
  });

  it('answers an invocation still running at shutdown as an exit, and starts no process after', async () => {
    const { env, procs, errors } = harness();
    const started = env.start();
    poll(env);
    await started;
    const running = env.invoke(request('r1'));
    await env.close();
    expect((await running).kind).toBe('exit');
    await tick();
    expect(procs).toHaveLength(1);
    expect(() => poll(env)).toThrow('out of order');
    expect(errors).toEqual([]);
  });

  it('provided: keeps a runtime that connects while the last one is being stopped', async () => {
    const { env, procs, errors } = harness({ runtime: 'provided' });
    const started = env.start();
    poll(env, 1000);
    await started;
    procs[0]!.endsOnKill = false;
    const result = env.invoke(request('slow'));
    // The deadline passes; while the reset waits for the killed process, a fresh runtime connects.
    await new Promise((r) => setTimeout(r, 80));
    expect(procs[0]!.killed).toBe(true);
    const fresh = poll(env, 2000);
    procs[0]!.end(null, 'SIGKILL');
    expect((await result).kind).toBe('timeout');
    await tick();
    expect(env.warm).toBe(true);
    const next = env.invoke(request('r2'));
    expect(fresh.headers['Lambda-Runtime-Aws-Request-Id']).toBe('r2');
    env.response('r2', Buffer.from('2'), false);
    expect((await next).kind).toBe('success');
    expect(errors).toEqual([]);
  });
});
