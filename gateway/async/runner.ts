import type { Logger } from '../../lib/index.js';

/** What the runner needs of the platform account's connection. */
export interface RunnerConnection {
  isClosed(): boolean;
  drain(): Promise<void>;
}

/** What the runner needs of the namespaces' connections (`nats:` destinations). */
export interface RunnerTenants {
  close(): Promise<void>;
}

/** What the runner needs of the pipeline it starts (gateway/async/pipeline.ts). */
export interface RunnablePipeline {
  start(): Promise<void>;
  stop(timeoutMs?: number): Promise<void>;
}

/** How the runner gets its parts; main.ts builds them from NATS and Kubernetes, tests from fakes. */
export interface AsyncRunnerDeps<
  C extends RunnerConnection,
  T extends RunnerTenants,
  P extends RunnablePipeline,
  X,
> {
  /** Connects to NATS (the platform account). Kept once it succeeds. */
  connect(): Promise<C>;
  /** Opens the namespaces' connections. Kept once it succeeds. */
  tenants(): Promise<T>;
  /** Builds the pipeline (streams, consumers) on the connections; `context` is what `run` was given. */
  create(nc: C, tenants: T, context: X): Promise<P>;
  /** Closes what the factories opened besides the connections (an account directory, say), after the tenants. */
  release?(): Promise<void>;
  log: Logger;
  /** Pause between failed starts (5 s). */
  retryMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * gateway/async/README.md "Wiring in the gateway": NATS, the streams, the Function watch and the
 * dispatcher, which runs each attempt through the gateway's sync path. It starts in the background
 * and keeps trying, so the sync path never waits for NATS: until `pipeline` is set, Event calls and
 * the dead-letters API are answered 503 (the AWS SDK retries those).
 */
export class AsyncRunner<C extends RunnerConnection, T extends RunnerTenants, P extends RunnablePipeline, X> {
  /** The running pipeline; undefined until it has started. */
  pipeline: P | undefined;
  private nc: C | undefined;
  private tenants: T | undefined;
  private stopping = false;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly o: AsyncRunnerDeps<C, T, P, X>) {
    this.sleep = o.sleep ?? defaultSleep;
  }

  /**
   * Starts (retrying every `retryMs`) until the pipeline dispatches, then resolves. Connections
   * that succeeded are kept across tries; a pipeline that failed to start is stopped before the
   * next. Resolves without a pipeline when stopped meanwhile.
   */
  async run(context: X): Promise<void> {
    const { log } = this.o;
    while (!this.stopping) {
      let created: P | undefined;
      try {
        this.nc ??= await this.o.connect();
        this.tenants ??= await this.o.tenants();
        created = await this.o.create(this.nc, this.tenants, context);
        await created.start();
        if (this.stopping) return await created.stop(1000);
        this.pipeline = created;
        log.info('async pipeline started');
        return;
      } catch (err) {
        log.error(
          { err },
          `the async pipeline failed to start; retrying in ${(this.o.retryMs ?? 5000) / 1000} s`,
        );
        await created?.stop(1000).catch(() => undefined);
        await this.sleep(this.o.retryMs ?? 5000);
      }
    }
  }

  /** Events in flight finish (or come back to the queue after ack_wait). */
  async stopDispatch(timeoutMs: number): Promise<void> {
    this.stopping = true;
    await this.pipeline?.stop(timeoutMs);
  }

  /** Closes the namespaces' connections, what the factories opened, then drains NATS. */
  async closeNats(): Promise<void> {
    this.stopping = true;
    await this.tenants?.close();
    await this.o.release?.();
    if (this.nc && !this.nc.isClosed()) await this.nc.drain();
  }
}
