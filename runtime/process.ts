import { spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { isReservedEnv } from '../api/schema.js';
import type { RuntimeSettings } from './config.js';
import type { FunctionLog } from './function-log.js';
import { isAlive, peakRssBytes, processStartMs, rssBytes } from './proc.js';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * The process of one life of an execution environment: the built-in Node.js client spawned by
 * sluice-runtime, or a custom runtime in another container of the pod that was found through its
 * Runtime API connection.
 */
export interface RuntimeProcess {
  readonly pid: number | undefined;
  /** Epoch ms when the process started (the start of its init). */
  readonly startedAt: number;
  /** Resolves once, when the process has ended. */
  readonly exited: Promise<ExitStatus>;
  /** SIGKILL; false when the process could not be signalled. */
  kill(): boolean;
  /** Graceful stop for shutdown: SIGTERM. */
  terminate(): void;
  freeze(): void;
  thaw(): void;
  peakRssBytes(): number | undefined;
  rssBytes(): number | undefined;
}

function signal(pid: number | undefined, sig: NodeJS.Signals): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Node's heap settings as the reference platform derives them from the memory size. */
export function nodeMemoryArgs(memoryMB: number): string[] {
  const newSpace = Math.floor(memoryMB / 64);
  const semiSpace = Math.floor(newSpace / 2);
  return [`--max-semi-space-size=${semiSpace}`, `--max-old-space-size=${memoryMB - newSpace}`];
}

/**
 * The environment variables a function process gets: its own without reserved names (the API
 * server rejects those in a spec; an image's own ENV may still carry some), then the runtime's.
 */
export function functionProcessEnv(s: RuntimeSettings, runtimeApi: string): Record<string, string> {
  const reserved: Record<string, string> = {
    AWS_LAMBDA_FUNCTION_NAME: s.functionName,
    AWS_LAMBDA_FUNCTION_VERSION: s.version,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(s.memoryMB),
    AWS_LAMBDA_LOG_GROUP_NAME: s.logGroupName,
    AWS_LAMBDA_LOG_STREAM_NAME: s.logStreamName,
    AWS_LAMBDA_RUNTIME_API: runtimeApi,
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    LAMBDA_TASK_ROOT: s.taskRoot,
    LAMBDA_RUNTIME_DIR: dirname(s.clientEntry),
    _HANDLER: s.handler,
    AWS_REGION: s.region,
    AWS_DEFAULT_REGION: s.region,
    TZ: ':UTC',
    LANG: 'en_US.UTF-8',
    NODE_PATH: `/opt/nodejs/node_modules:${s.taskRoot}/node_modules:${s.taskRoot}`,
  };
  if (s.runtime !== 'provided') reserved.AWS_EXECUTION_ENV = `AWS_Lambda_${s.runtime}.x`;
  const env = Object.fromEntries(Object.entries(s.functionEnv).filter(([k]) => !isReservedEnv(k)));
  return { ...env, ...reserved };
}

/**
 * Spawns the built-in Node.js runtime client in its own process group (signals reach whatever it
 * started too, as a sandbox is stopped whole); its stdout and stderr go to the function log.
 */
export function spawnNodeClient(s: RuntimeSettings, runtimeApi: string, log: FunctionLog): RuntimeProcess {
  const startedAt = Date.now();
  const child = spawn(s.nodeBinary, [...nodeMemoryArgs(s.memoryMB), s.clientEntry], {
    cwd: s.taskRoot,
    env: functionProcessEnv(s, runtimeApi),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  log.attach(child.stdout);
  log.attach(child.stderr);
  // After 'exit', wait briefly for 'close' so every line the process wrote has been read (a
  // process it started may hold the pipes open: do not wait for that).
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('error', () => resolve({ code: 127, signal: null }));
    child.once('exit', (code, sig) => {
      const done = (): void => resolve({ code, signal: sig });
      const timer = setTimeout(done, 200);
      child.once('close', () => {
        clearTimeout(timer);
        done();
      });
    });
  });
  const pid = child.pid;
  const group = pid === undefined ? undefined : -pid;
  return {
    pid,
    startedAt,
    exited,
    kill: () => {
      const ok = signal(group, 'SIGKILL') || child.kill('SIGKILL');
      signal(group, 'SIGCONT');
      return ok;
    },
    terminate: () => {
      signal(group, 'SIGTERM');
      signal(group, 'SIGCONT');
    },
    freeze: () => void signal(group, 'SIGSTOP'),
    thaw: () => void signal(group, 'SIGCONT'),
    peakRssBytes: () => (pid === undefined ? undefined : peakRssBytes(pid)),
    rssBytes: () => (pid === undefined ? undefined : rssBytes(pid)),
  };
}

/**
 * A custom runtime's process found through its connection: sluice-runtime cannot wait for it, so it
 * polls `/proc` for its end. Exit status is unknown (`code` and `signal` null).
 */
export function adoptProcess(pid: number, pollMs = 100): RuntimeProcess {
  let timer: NodeJS.Timeout | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    timer = setInterval(() => {
      if (!isAlive(pid)) {
        clearInterval(timer);
        resolve({ code: null, signal: null });
      }
    }, pollMs);
    timer.unref();
  });
  return {
    pid,
    startedAt: processStartMs(pid) ?? Date.now(),
    exited,
    kill: () => signal(pid, 'SIGKILL'),
    terminate: () => void signal(pid, 'SIGTERM'),
    freeze: () => undefined,
    thaw: () => undefined,
    peakRssBytes: () => peakRssBytes(pid),
    rssBytes: () => rssBytes(pid),
  };
}
