import type { Logger } from '../lib/log.js';
import { describeError } from '../lib/errors.js';
import { newId } from '../lib/log.js';

/**
 * A work queue keyed by `kind/namespace/name`: a key is processed by one worker at a time; a
 * key added while it is being processed is processed again afterwards (level-triggered); a
 * thrown error re-queues it with exponential backoff. What no retry can fix (an invalid spec, a
 * missing ConfigMap) the reconcilers record in a status condition and return normally: a change
 * of the object or of what it names brings the key back.
 */
export type ReconcileFn = (key: string, log: Logger) => Promise<void>;

export interface WorkQueueOptions {
  workers: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  onResult?: (key: string, result: 'success' | 'error') => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly sleepers: (() => void)[] = [];
  private stopped = false;
  private workers: Promise<void>[] = [];

  constructor(
    private readonly reconcile: ReconcileFn,
    private readonly log: Logger,
    private readonly opts: WorkQueueOptions,
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.sleepers.shift()?.();
  }

  addAfter(key: string, delayMs: number): void {
    if (this.stopped || this.timers.has(key)) return;
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.add(key);
      }, delayMs),
    );
  }

  get length(): number {
    return this.queue.length;
  }

  start(): void {
    for (let i = 0; i < this.opts.workers; i++) this.workers.push(this.work());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const wake of this.sleepers.splice(0)) wake();
    await Promise.all(this.workers);
  }

  private async next(): Promise<string | undefined> {
    while (!this.stopped) {
      const key = this.queue.shift();
      if (key !== undefined) {
        this.queued.delete(key);
        return key;
      }
      await new Promise<void>((resolve) => this.sleepers.push(resolve));
    }
    return undefined;
  }

  private async work(): Promise<void> {
    for (let key = await this.next(); key !== undefined; key = await this.next()) {
      this.processing.add(key);
      await this.process(key);
      this.processing.delete(key);
      if (this.dirty.delete(key)) this.add(key);
    }
  }

  private async process(key: string): Promise<void> {
    const log = this.log.child({ key, reconcileId: newId() });
    try {
      await this.reconcile(key, log);
      this.failures.delete(key);
      this.opts.onResult?.(key, 'success');
    } catch (err) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      const delay = Math.min((this.opts.baseDelayMs ?? 200) * 2 ** (n - 1), this.opts.maxDelayMs ?? 60_000);
      log.warn({ attempt: n, retryInMs: delay }, `reconcile failed: ${describeError(err)}`);
      this.opts.onResult?.(key, 'error');
      this.addAfter(key, delay);
    }
  }
}

export function makeKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

export function parseKey(key: string): { kind: string; namespace: string; name: string } {
  const [kind = '', namespace = '', name = ''] = key.split('/');
  return { kind, namespace, name };
}
