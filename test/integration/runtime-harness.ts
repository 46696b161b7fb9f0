import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../support/net.js';
import { budget } from '../support/time.js';
export { freePort } from '../support/net.js';

/**
 * Starts the real sluice-runtime process (compiled from runtime/ into dist/.runtime-it) against a
 * temporary code directory, and talks to it over loopback HTTP.
 */
export const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);
const BUILD_DIR = path.join(ROOT, 'dist', '.runtime-it');
export const RUNTIME_MAIN = path.join(BUILD_DIR, 'out', 'runtime', 'main.js');

let built = false;

/** Compiles runtime/ and lib/ once per test process. */
export function buildRuntime(): void {
  if (built) return;
  mkdirSync(BUILD_DIR, { recursive: true });
  writeFileSync(
    path.join(BUILD_DIR, 'tsconfig.json'),
    JSON.stringify({
      extends: '../../tsconfig.json',
      compilerOptions: {
        noEmit: false,
        outDir: './out',
        rootDir: '../..',
        sourceMap: false,
        incremental: true,
        tsBuildInfoFile: './tsbuildinfo',
      },
      include: [],
      files: ['../../runtime/main.ts', '../../runtime/node-client/main.ts'],
    }),
  );
  execFileSync(
    path.join(ROOT, 'node_modules', '.bin', 'tsc'),
    ['-p', path.join(BUILD_DIR, 'tsconfig.json')],
    {
      stdio: 'inherit',
    },
  );
  built = true;
}

/** Writes files (path → content) into a new temporary directory. */
export function codeDir(files: Record<string, string | undefined>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-fn-'));
  for (const [name, content] of Object.entries(files)) {
    if (content === undefined) continue;
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

export interface InvokeResponse {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
  /** Decoded X-Amz-Log-Result, when present. */
  tail?: string | undefined;
}

export interface RuntimeOptions {
  files?: Record<string, string | undefined>;
  taskRoot?: string;
  handler?: string;
  runtime?: 'nodejs22' | 'nodejs24' | 'provided';
  memoryMB?: number;
  timeoutSeconds?: number;
  concurrency?: number;
  functionName?: string;
  version?: string;
  env?: Record<string, string>;
  /** Wait for /readyz before returning (default true). */
  waitReady?: boolean;
}

export class RuntimeProcessHandle {
  readonly lines: string[] = [];
  private waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  exited: Promise<number | null>;

  constructor(
    readonly child: ChildProcess,
    readonly invokePort: number,
    readonly runtimeApiPort: number,
    readonly metricsPort: number,
    readonly taskRoot: string,
  ) {
    let pending = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      pending += chunk;
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        this.addLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        nl = pending.indexOf('\n');
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => process.stderr.write(`[runtime stderr] ${chunk}`));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  private addLine(line: string): void {
    this.lines.push(line);
    for (const w of [...this.waiters]) {
      if (w.re.test(line)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  }

  /** Resolves with the first line (already seen or future) matching `re`; `timeoutMs` is scaled by budget(). */
  waitForLine(re: RegExp, timeoutMs = 15_000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no log line matching ${re} in:\n${this.lines.join('\n')}`)),
        budget(timeoutMs),
      );
      this.waiters.push({
        re,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  /** Function log lines (the pod log minus sluice-runtime's own JSON lines). */
  functionLines(): string[] {
    return this.lines.filter((l) => !l.startsWith('{"level"'));
  }

  url(p: string): string {
    return `http://127.0.0.1:${this.invokePort}${p}`;
  }

  async invoke(
    event: unknown,
    opts: { headers?: Record<string, string>; qualifier?: string; raw?: string | Buffer } = {},
  ): Promise<InvokeResponse> {
    const q = opts.qualifier ? `?Qualifier=${encodeURIComponent(opts.qualifier)}` : '';
    const res = await fetch(this.url(`/2015-03-31/functions/function/invocations${q}`), {
      method: 'POST',
      headers: opts.headers ?? {},
      body: opts.raw ?? JSON.stringify(event),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const logResult = res.headers.get('x-amz-log-result');
    return {
      status: res.status,
      headers: res.headers,
      text,
      json,
      tail: logResult ? Buffer.from(logResult, 'base64').toString('utf8') : undefined,
    };
  }

  /**
   * Waits until /readyz (or, with `probe: 'healthz'`, until the process serves at all);
   * `timeoutMs` is scaled by budget().
   */
  async waitReady(timeoutMs = 20_000, probe: 'readyz' | 'healthz' = 'readyz'): Promise<void> {
    const until = Date.now() + budget(timeoutMs);
    for (;;) {
      try {
        const res = await fetch(this.url(`/${probe}`));
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      const exited = this.child.exitCode !== null || this.child.signalCode !== null;
      if (exited) await new Promise((r) => setTimeout(r, 200)); // the last lines of its output
      if (exited || Date.now() > until) throw new Error(`runtime not ready:\n${this.lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(opts: { keepTaskRoot?: boolean } = {}): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), budget(5000));
    await this.exited;
    clearTimeout(timer);
    if (!opts.keepTaskRoot) rmSync(this.taskRoot, { recursive: true, force: true });
  }
}

/**
 * Starts the runtime on free loopback ports. A port found free can be taken by another process
 * (any outgoing connection's ephemeral port) before the runtime binds it: a start that fails with
 * EADDRINUSE is tried again on other ports.
 */
export async function startRuntime(o: RuntimeOptions): Promise<RuntimeProcessHandle> {
  buildRuntime();
  const taskRoot = o.taskRoot ?? codeDir(o.files ?? {});
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnFreePorts(o, taskRoot);
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String(err))) throw err;
    }
  }
}

async function startOnFreePorts(o: RuntimeOptions, taskRoot: string): Promise<RuntimeProcessHandle> {
  const invokePort = await freePort();
  const runtimeApiPort = await freePort();
  const metricsPort = await freePort();
  const child = spawn(process.execPath, [RUNTIME_MAIN], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOSTNAME: 'test-pod',
      SLUICE_FUNCTION_NAME: o.functionName ?? 'hello',
      SLUICE_FUNCTION_NAMESPACE: 'team-a',
      SLUICE_FUNCTION_VERSION: o.version ?? '$LATEST',
      SLUICE_HANDLER: o.handler ?? 'index.handler',
      SLUICE_RUNTIME: o.runtime ?? 'nodejs22',
      SLUICE_MEMORY_MB: String(o.memoryMB ?? 128),
      SLUICE_TIMEOUT_SECONDS: String(o.timeoutSeconds ?? 3),
      SLUICE_CONCURRENCY: String(o.concurrency ?? 1),
      SLUICE_TASK_ROOT: taskRoot,
      SLUICE_RUNTIME_API: `127.0.0.1:${runtimeApiPort}`,
      SLUICE_INVOKE_HOST: '127.0.0.1',
      SLUICE_INVOKE_PORT: String(invokePort),
      SLUICE_METRICS_PORT: String(metricsPort),
      SLUICE_SHUTDOWN_GRACE_SECONDS: '2',
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const handle = new RuntimeProcessHandle(child, invokePort, runtimeApiPort, metricsPort, taskRoot);
  try {
    await handle.waitReady(20_000, (o.waitReady ?? true) ? 'readyz' : 'healthz');
  } catch (err) {
    if (/EADDRINUSE/.test(String(err))) await handle.stop({ keepTaskRoot: true });
    throw err;
  }
  return handle;
}

/** The REPORT line of one request, once it has been written. */
export function reportOf(rt: RuntimeProcessHandle, requestId: string): Promise<string> {
  return rt.waitForLine(new RegExp(`^REPORT RequestId: ${requestId}\\t`));
}

export const REPORT_LINE =
  /^REPORT RequestId: [\w-]+\tDuration: \d+\.\d{2} ms\tBilled Duration: \d+ ms\tMemory Size: \d+ MB\tMax Memory Used: \d+ MB\t(Init Duration: \d+\.\d{2} ms\t)?$/;
