import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../support/net.js';
import { budget } from '../../support/time.js';

/**
 * A real nats-server per test suite: JetStream with a temporary store directory, loopback only,
 * a random port. `restart()` keeps the port and the store (a server restart mid-run);
 * `cleanup()` stops it and removes the directory — call it from afterAll / finally.
 */
export function natsServerBinary(): string {
  const fromEnv = process.env.NATS_SERVER;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const cache = path.join(homedir(), '.cache', 'sluice', 'bin');
  if (existsSync(cache)) {
    for (const d of readdirSync(cache)
      .filter((n) => n.startsWith('nats-server-'))
      .sort()
      .reverse()) {
      const bin = path.join(cache, d, 'nats-server');
      if (existsSync(bin)) return bin;
    }
  }
  throw new Error(
    'nats-server not found: set NATS_SERVER (`. .cluster/env`) or build it with `make cluster-up` (cached in ~/.cache/sluice/bin)',
  );
}

export interface NatsServerOptions {
  /** max_payload of the server (Sluice runs with 8MB so records of 1 MB events fit). */
  maxPayload?: string;
}

export class NatsServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  readonly log: string[] = [];

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly configFile: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  static async start(o: NatsServerOptions = {}): Promise<NatsServer> {
    const dir = mkdtempSync(path.join(tmpdir(), 'sluice-nats-'));
    try {
      const port = await freePort();
      const configFile = path.join(dir, 'nats.conf');
      writeFileSync(
        configFile,
        [
          `listen: "127.0.0.1:${port}"`,
          `max_payload: ${o.maxPayload ?? '8MB'}`,
          `jetstream {`,
          `  store_dir: "${path.join(dir, 'js')}"`,
          `  max_memory_store: 64MB`,
          `  max_file_store: 4GB`,
          `}`,
          '',
        ].join('\n'),
      );
      const s = new NatsServer(dir, port, configFile);
      await s.spawn();
      return s;
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  private async spawn(): Promise<void> {
    const child = spawn(natsServerBinary(), ['-c', this.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((r) => child.once('exit', () => r()));
    let ready: () => void = () => undefined;
    let failed: (e: Error) => void = () => undefined;
    const readyP = new Promise<void>((res, rej) => {
      ready = res;
      failed = rej;
    });
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        this.log.push(line);
        if (line.includes('Server is ready')) ready();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => failed(new Error(`nats-server exited (${code}):\n${this.log.join('\n')}`)));
    const timer = setTimeout(
      () => failed(new Error(`nats-server not ready:\n${this.log.join('\n')}`)),
      budget(20_000),
    );
    try {
      await readyP;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops the server: SIGTERM (clean shutdown) or SIGKILL (a crash). */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill(signal);
    const t = setTimeout(() => c.kill('SIGKILL'), budget(10_000));
    await this.exited;
    clearTimeout(t);
  }

  /** Stops and starts again on the same port with the same store. */
  async restart(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM', downMs = 0): Promise<void> {
    await this.stop(signal);
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.spawn();
  }

  async cleanup(): Promise<void> {
    try {
      await this.stop();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
