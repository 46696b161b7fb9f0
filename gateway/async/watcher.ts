import type { FunctionResource } from '../../api/types.js';
import { describeError, type Logger } from '../../lib/index.js';
import { asyncFunctionOf, type AsyncFunction } from './function-config.js';

/** What a list+watch of Function objects reports (the gateway's `startWatch` has this shape). */
export interface FunctionWatchHandlers {
  upsert(fn: FunctionResource): void;
  remove(fn: FunctionResource): void;
}

export interface FunctionWatchSource {
  /** Starts listing and watching; `synced` resolves once the first list was delivered. */
  start(handlers: FunctionWatchHandlers): { synced: Promise<void>; stop(): Promise<void> };
}

/** The consumer side (AsyncStreams). */
export interface ConsumerManager {
  ensureConsumer(fn: AsyncFunction): Promise<unknown>;
  deleteConsumer(namespace: string, name: string): Promise<boolean>;
  listConsumers(): Promise<{ namespace: string; name: string }[]>;
}

/** The dispatch side (AsyncDispatcher). */
export interface DispatchTarget {
  upsertFunction(fn: AsyncFunction): void;
  removeFunction(namespace: string, name: string): Promise<void>;
}

export interface WatcherDeps {
  source: FunctionWatchSource;
  consumers: ConsumerManager;
  dispatcher: DispatchTarget;
  log: Logger;
  /** Pause before a failed reconcile (NATS unreachable) is tried again. */
  retryMs?: number;
}

const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;

/**
 * Keeps consumers and pull loops in step with the Function objects: level-triggered (each key's
 * reconcile reads the latest desired state), one reconcile per key at a time, failed ones
 * retried. After the first list, consumers whose function no longer exists are deleted.
 */
export class AsyncFunctionWatcher {
  private readonly desired = new Map<string, AsyncFunction>();
  /** Consumer config last applied per key (so watch resyncs do not re-send it). */
  private readonly applied = new Map<string, string>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private watch: { synced: Promise<void>; stop(): Promise<void> } | undefined;
  private stopped = false;

  constructor(private readonly deps: WatcherDeps) {}

  /** Starts watching; resolves after the first list has been reconciled and stale consumers removed. */
  async start(): Promise<void> {
    this.watch = this.deps.source.start({
      upsert: (fn) => this.onUpsert(fn),
      remove: (fn) => this.onRemove(fn),
    });
    await this.watch.synced;
    await this.idle();
    await this.collectGarbage();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    await this.watch?.stop();
    await this.idle();
  }

  /** Whether a function is known (for `function:` destinations). */
  has(namespace: string, name: string): boolean {
    return this.desired.has(keyOf(namespace, name));
  }

  private onUpsert(obj: FunctionResource): void {
    const ns = obj.metadata.namespace;
    const name = obj.metadata.name;
    if (!ns || !name) return;
    if (obj.metadata.deletionTimestamp) return this.onRemove(obj);
    const key = keyOf(ns, name);
    this.desired.set(key, asyncFunctionOf(obj));
    this.schedule(key);
  }

  private onRemove(obj: FunctionResource): void {
    const ns = obj.metadata.namespace;
    const name = obj.metadata.name;
    if (!ns || !name) return;
    const key = keyOf(ns, name);
    this.desired.delete(key);
    this.schedule(key);
  }

  private schedule(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    const run = this.reconcile(key).finally(() => {
      this.running.delete(key);
      if (this.dirty.delete(key)) this.schedule(key);
    });
    this.running.set(key, run);
  }

  private async reconcile(key: string): Promise<void> {
    const want = this.desired.get(key);
    const [namespace, name] = key.split('/') as [string, string];
    try {
      if (want) {
        const cfg = JSON.stringify(want);
        if (this.applied.get(key) !== cfg) {
          await this.deps.consumers.ensureConsumer(want);
          this.applied.set(key, cfg);
        }
        this.deps.dispatcher.upsertFunction(want);
      } else {
        await this.deps.dispatcher.removeFunction(namespace, name);
        await this.deps.consumers.deleteConsumer(namespace, name);
        this.applied.delete(key);
      }
    } catch (err) {
      this.deps.log.warn(
        { function: key, err: describeError(err) },
        'async consumer reconcile failed; retrying',
      );
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.schedule(key);
      }, this.deps.retryMs ?? 2000);
      t.unref();
      this.timers.add(t);
    }
  }

  private async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()]);
  }

  /** Deletes consumers of functions that no longer exist (removed while no gateway was watching). */
  async collectGarbage(): Promise<number> {
    let removed = 0;
    try {
      for (const c of await this.deps.consumers.listConsumers()) {
        if (this.desired.has(keyOf(c.namespace, c.name))) continue;
        await this.deps.consumers.deleteConsumer(c.namespace, c.name);
        removed++;
        this.deps.log.info(
          { function: keyOf(c.namespace, c.name) },
          'deleted the consumer of a function that is gone',
        );
      }
    } catch (err) {
      this.deps.log.warn({ err: describeError(err) }, 'consumer garbage collection failed');
    }
    return removed;
  }
}
