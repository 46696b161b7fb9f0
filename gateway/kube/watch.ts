import {
  makeInformer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Logger } from '../../lib/index.js';

/** What a watched collection reports: every object added or changed, and every deletion. */
export interface WatchHandlers<T> {
  upsert(obj: T): void;
  remove(obj: T): void;
}

export interface RunningWatch {
  /** Resolves once the first list was delivered. */
  synced: Promise<void>;
  isSynced(): boolean;
  stop(): Promise<void>;
}

/**
 * List+watch one collection with @kubernetes/client-node's informer, feeding `handlers`.
 * The informer stops on an error (an expired resourceVersion, a dropped connection); this
 * restarts it after `retryMs`, and its fresh list re-delivers every object (handlers are
 * idempotent upserts), so the view converges whatever was missed.
 */
export function startWatch<T extends KubernetesObject>(opts: {
  kc: KubeConfig;
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  handlers: WatchHandlers<T>;
  log: Logger;
  retryMs?: number;
}): RunningWatch {
  const informer = makeInformer<T>(opts.kc, opts.path, opts.list, opts.labelSelector);
  let synced = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let resolveSynced: () => void = () => undefined;
  const syncedPromise = new Promise<void>((r) => (resolveSynced = r));
  const markSynced = (): void => {
    if (synced) return;
    synced = true;
    resolveSynced();
  };
  informer.on('add', (o) => opts.handlers.upsert(o));
  informer.on('update', (o) => opts.handlers.upsert(o));
  informer.on('delete', (o) => opts.handlers.remove(o));
  let failed = false;
  const start = (): void => {
    failed = false;
    // start() resolves once the list has been applied and the watch is open, or after it
    // reported a failed list through the 'error' callback.
    informer.start().then(
      () => {
        if (!failed) markSynced();
      },
      (err: unknown) => {
        opts.log.warn({ err, path: opts.path }, 'watch failed to start; retrying');
        restart();
      },
    );
  };
  const restart = (): void => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(start, opts.retryMs ?? 3000);
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
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await informer.stop();
    },
  };
}
