import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FunctionResource } from '../../api/types.js';
import { createLogger } from '../../lib/index.js';
import type { AsyncFunction } from './function-config.js';
import { AsyncFunctionWatcher, type FunctionWatchHandlers } from './watcher.js';

const fn = (name: string, reserved?: number, deleting = false): FunctionResource => ({
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'Function',
  metadata: { namespace: 'ns', name, ...(deleting ? { deletionTimestamp: new Date() } : {}) },
  spec: {
    runtime: 'nodejs22',
    handler: 'index.handler',
    code: { inline: 'x' },
    ...(reserved !== undefined ? { concurrency: { reserved } } : {}),
  },
});

class FakeConsumers {
  readonly consumers = new Map<string, AsyncFunction>();
  ensureCalls = 0;
  failNext = 0;
  async ensureConsumer(f: AsyncFunction): Promise<void> {
    this.ensureCalls++;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('nats down');
    }
    this.consumers.set(`${f.namespace}/${f.name}`, f);
    return Promise.resolve();
  }
  async deleteConsumer(ns: string, name: string): Promise<boolean> {
    return Promise.resolve(this.consumers.delete(`${ns}/${name}`));
  }
  async listConsumers(): Promise<{ namespace: string; name: string }[]> {
    return Promise.resolve(
      [...this.consumers.keys()].map((k) => ({ namespace: k.split('/')[0]!, name: k.split('/')[1]! })),
    );
  }
}

class FakeDispatch {
  readonly fns = new Map<string, AsyncFunction>();
  upsertFunction(f: AsyncFunction): void {
    this.fns.set(`${f.namespace}/${f.name}`, f);
  }
  async removeFunction(ns: string, name: string): Promise<void> {
    this.fns.delete(`${ns}/${name}`);
    return Promise.resolve();
  }
}

function setup(initial: FunctionResource[], stale: string[] = []) {
  const consumers = new FakeConsumers();
  for (const s of stale) consumers.consumers.set(`ns/${s}`, { namespace: 'ns', name: s } as AsyncFunction);
  const dispatch = new FakeDispatch();
  let handlers: FunctionWatchHandlers | undefined;
  const watcher = new AsyncFunctionWatcher({
    source: {
      start: (h) => {
        handlers = h;
        for (const f of initial) h.upsert(f);
        return { synced: Promise.resolve(), stop: () => Promise.resolve() };
      },
    },
    consumers,
    dispatcher: dispatch,
    log: createLogger({ component: 'test', level: 'silent' }),
    retryMs: 10,
  });
  return { watcher, consumers, dispatch, handlers: () => handlers! };
}

/**
 * Lets 50 ms of fake time pass: every reconcile the fakes allow has run by then, retries (10 ms
 * apart) included — so "nothing was done" is a fact, not a guess about the machine's speed.
 */
const settle = async (): Promise<void> => {
  await vi.advanceTimersByTimeAsync(50);
};

describe('AsyncFunctionWatcher', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('creates consumers and pull loops for listed functions and collects stale consumers', async () => {
    const s = setup([fn('a'), fn('b', 3)], ['gone']);
    await s.watcher.start();
    expect([...s.consumers.consumers.keys()].sort()).toEqual(['ns/a', 'ns/b']);
    expect([...s.dispatch.fns.keys()].sort()).toEqual(['ns/a', 'ns/b']);
    expect(s.dispatch.fns.get('ns/b')?.maxConcurrency).toBe(3);
    expect(s.watcher.has('ns', 'a')).toBe(true);
    await s.watcher.stop();
  });

  it('updates on change, skips unchanged resyncs, removes on delete or deletionTimestamp', async () => {
    const s = setup([fn('a')]);
    await s.watcher.start();
    const calls = s.consumers.ensureCalls;
    s.handlers().upsert(fn('a')); // a resync with nothing changed
    await settle();
    expect(s.consumers.ensureCalls).toBe(calls);
    s.handlers().upsert(fn('a', 7));
    await settle();
    expect(s.consumers.consumers.get('ns/a')?.maxConcurrency).toBe(7);
    s.handlers().upsert(fn('a', 7, true));
    await settle();
    expect(s.consumers.consumers.has('ns/a')).toBe(false);
    expect(s.dispatch.fns.has('ns/a')).toBe(false);
    expect(s.watcher.has('ns', 'a')).toBe(false);
    await s.watcher.stop();
  });

  it('retries a reconcile that failed (NATS unreachable)', async () => {
    const s = setup([]);
    await s.watcher.start();
    s.consumers.failNext = 2;
    s.handlers().upsert(fn('c'));
    await settle();
    await settle();
    expect(s.consumers.consumers.has('ns/c')).toBe(true);
    expect(s.dispatch.fns.has('ns/c')).toBe(true);
    await s.watcher.stop();
  });
});
