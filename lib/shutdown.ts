import type { Logger } from './log.js';
import { ShuttingDownError } from './errors.js';

/**
 * Counts in-flight work so shutdown can wait for it. `begin()` returns the function that ends
 * the unit of work; after `close()` new work is refused with a ShuttingDownError.
 */
export class InFlight {
  private count = 0;
  private closed = false;
  private waiters: (() => void)[] = [];

  get size(): number {
    return this.count;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  begin(): () => void {
    if (this.closed) throw new ShuttingDownError('shutting down: not accepting new work');
    this.count++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.count--;
      if (this.count === 0) for (const w of this.waiters.splice(0)) w();
    };
  }

  /** Refuses new work and resolves true when all in-flight work ended, false on timeout. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.closed = true;
    if (this.count === 0) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

type Hook = { name: string; run: () => Promise<void> | void };

/**
 * Graceful shutdown: on SIGTERM/SIGINT run the registered hooks in reverse order of
 * registration (last started, first stopped), each bounded by the grace period.
 */
export class Shutdown {
  private hooks: Hook[] = [];
  private running: Promise<void> | undefined;

  constructor(
    private readonly log: Logger,
    private readonly graceMs: number,
  ) {}

  register(name: string, run: () => Promise<void> | void): void {
    this.hooks.push({ name, run });
  }

  /** Installs signal handlers; the process exits after the hooks ran. */
  installSignalHandlers(exit: (code: number) => void = (code) => process.exit(code)): void {
    const onSignal = (signal: NodeJS.Signals): void => {
      this.log.info({ signal }, 'shutdown requested');
      this.run()
        .then(() => exit(0))
        .catch(() => exit(1));
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }

  run(): Promise<void> {
    this.running ??= this.runHooks();
    return this.running;
  }

  private async runHooks(): Promise<void> {
    const deadline = Date.now() + this.graceMs;
    for (const hook of [...this.hooks].reverse()) {
      const left = Math.max(0, deadline - Date.now());
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), left);
      });
      try {
        const result = await Promise.race([Promise.resolve(hook.run()).then(() => 'ok' as const), timeout]);
        if (result === 'timeout') this.log.warn({ hook: hook.name }, 'shutdown hook timed out');
        else this.log.info({ hook: hook.name }, 'stopped');
      } catch (err) {
        this.log.error({ hook: hook.name, err }, 'shutdown hook failed');
      } finally {
        clearTimeout(timer);
      }
    }
  }
}
