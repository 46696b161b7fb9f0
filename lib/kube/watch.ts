import {
  makeInformer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Logger } from '../log.js';

/** What a watched collection reports: every object added or changed, and every deletion. */
export interface WatchHandlers<T> {
  upsert(obj: T): void;
  remove(obj: T): void;
}

/** Reads from a watch's cache: no API request. */
export interface Lister<T> {
  /** The object `name` (in `namespace`; omit it for cluster-scoped objects). */
  get(name: string, namespace?: string): T | undefined;
  /** Every object, or those of one namespace. */
  list(namespace?: string): readonly T[];
}

export interface RunningWatch<T = KubernetesObject> extends Lister<T> {
  /** Resolves once the first list was delivered. */
  synced: Promise<void>;
  isSynced(): boolean;
  stop(): Promise<void>;
}

export interface WatchOptions<T extends KubernetesObject> {
  kc: KubeConfig;
  /** The collection's URL path, e.g. `/apis/apps/v1/deployments`. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  /** Called for every object added or changed and every deletion (after the cache took it). */
  handlers?: WatchHandlers<T>;
  log: Logger;
  /** First retry after a failure (default 3 s); doubles on each failure in a row. */
  retryMs?: number;
  /** The longest wait between retries (default 60 s). */
  maxRetryMs?: number;
}

/** The wait before retry number `failures` (1, 2, …): `first` doubled each time, at most `max`. */
export function backoffMs(failures: number, first: number, max: number): number {
  return Math.min(max, first * 2 ** Math.max(0, Math.min(failures - 1, 20)));
}

/**
 * List+watch one collection with @kubernetes/client-node's informer: a cache to read from
 * (get/list, no API request) that feeds `handlers`. The informer stops on an error (a failed
 * list, an expired resourceVersion, a dropped connection, a refusal); this restarts it with a
 * backoff (3 s, doubling up to 60 s, reset once it is in sync again), and its fresh list
 * re-delivers every object (handlers are idempotent upserts), so the view converges whatever
 * was missed. A failure is never swallowed: it is logged and retried.
 */
export function startWatch<T extends KubernetesObject>(opts: WatchOptions<T>): RunningWatch<T> {
  const informer = makeInformer<T>(opts.kc, opts.path, opts.list, opts.labelSelector);
  const first = opts.retryMs ?? 3000;
  const max = Math.max(first, opts.maxRetryMs ?? 60_000);
  let synced = false;
  let stopped = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let resolveSynced: () => void = () => undefined;
  const syncedPromise = new Promise<void>((r) => (resolveSynced = r));
  const markSynced = (): void => {
    failures = 0;
    if (synced) return;
    synced = true;
    resolveSynced();
  };
  if (opts.handlers) {
    const h = opts.handlers;
    informer.on('add', (o) => h.upsert(o));
    informer.on('update', (o) => h.upsert(o));
    informer.on('delete', (o) => h.remove(o));
  }
  let failed = false;
  const start = (): void => {
    if (stopped) return;
    failed = false;
    // start() resolves once the list has been applied and the watch is open, or after it
    // reported a failed list through the 'error' callback.
    informer.start().then(
      () => {
        if (!failed && !stopped) markSynced();
      },
      (err: unknown) => {
        opts.log.warn({ err, path: opts.path }, 'watch failed to start; retrying');
        restart();
      },
    );
  };
  const restart = (): void => {
    if (stopped) return;
    failures++;
    clearTimeout(timer);
    timer = setTimeout(start, backoffMs(failures, first, max));
    timer.unref();
  };
  informer.on('error', (err: unknown) => {
    failed = true;
    opts.log.warn({ err, path: opts.path }, 'watch ended with an error; restarting');
    restart();
  });
  start();
  return {
    synced: syncedPromise,
    isSynced: () => synced,
    get: (name, namespace) => informer.get(name, namespace),
    list: (namespace) => informer.list(namespace),
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await informer.stop();
    },
  };
}
