import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/net.js';
import { budget } from '../support/time.js';
export { freePort } from '../support/net.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface RuntimeProcess {
  address: string;
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/**
 * Starts a real `sluice-runtime` (runtime/main.ts under tsx) for one function, with the built-in
 * Node.js client run through a small wrapper that loads tsx (the client is TypeScript in the
 * source tree). Resolves once its /readyz answers 200.
 */
export async function startRuntime(opts: {
  functionName: string;
  namespace?: string;
  version?: string;
  handler: string;
  taskRoot: string;
  nodeWrapper: string;
  timeoutSeconds?: number;
  concurrency?: number;
}): Promise<RuntimeProcess> {
  const invokePort = await freePort();
  const apiPort = await freePort();
  const args = [
    join(ROOT, 'node_modules/tsx/dist/cli.mjs'),
    join(ROOT, 'runtime/main.ts'),
    '--function-name',
    opts.functionName,
    '--namespace',
    opts.namespace ?? 'default',
    '--function-version',
    opts.version ?? '$LATEST',
    '--handler',
    opts.handler,
    '--task-root',
    opts.taskRoot,
    '--invoke-host',
    '127.0.0.1',
    '--invoke-port',
    String(invokePort),
    '--runtime-api',
    `127.0.0.1:${apiPort}`,
    '--metrics-port',
    '0',
    '--log-level',
    'warn',
    '--timeout-seconds',
    String(opts.timeoutSeconds ?? 5),
    '--concurrency',
    String(opts.concurrency ?? 1),
    '--node-binary',
    opts.nodeWrapper,
  ];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const address = `127.0.0.1:${invokePort}`;
  const deadline = Date.now() + budget(30_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`runtime ${opts.functionName} exited: ${out}`);
    try {
      const r = await fetch(`http://${address}/readyz`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`runtime ${opts.functionName} not ready: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    address,
    child,
    output: () => out,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), budget(5000)).unref();
      }),
  };
}

/** A temp directory with the functions' code and the node wrapper; removed by `cleanup`. */
export function makeWorkspace(code: string): { taskRoot: string; nodeWrapper: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-gw-'));
  const taskRoot = join(dir, 'task');
  mkdirSync(taskRoot, { recursive: true });
  writeFileSync(join(taskRoot, 'index.js'), code);
  const nodeWrapper = join(dir, 'node-tsx');
  const loader = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
  writeFileSync(nodeWrapper, `#!/bin/sh\nexec "${process.execPath}" --import ${loader} "$@"\n`);
  chmodSync(nodeWrapper, 0o755);
  return { taskRoot, nodeWrapper, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
