import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger } from '../lib/log.js';
import { WorkQueue } from './workqueue.js';

const log = createLogger({
  component: 'test',
  level: 'silent',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Fake timers: the reconciles' sleeps and the queue's backoff run on a clock the test moves, so
// "how long it took" and "nothing more ran" are exact, whatever the machine's load.
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('WorkQueue', () => {
  it('never runs one key twice at once, and re-runs a key added while it ran', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const q = new WorkQueue(
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        runs++;
        await sleep(30);
        running--;
      },
      log,
      { workers: 4 },
    );
    q.start();
    q.add('Function/a/b');
    await vi.advanceTimersByTimeAsync(5);
    expect(runs).toBe(1);
    q.add('Function/a/b');
    q.add('Function/a/b');
    // Long past both runs (30 ms each): a third run, or two at once, would have happened by now.
    await vi.advanceTimersByTimeAsync(1000);
    await q.stop();
    expect(maxRunning).toBe(1);
    expect(runs).toBe(2);
  });

  it('dedupes queued keys and runs distinct keys in parallel', async () => {
    const seen: string[] = [];
    const done: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const q = new WorkQueue(
      async (key) => {
        seen.push(key);
        running++;
        maxRunning = Math.max(maxRunning, running);
        await sleep(20);
        running--;
        done.push(key);
      },
      log,
      { workers: 2 },
    );
    for (const k of ['a', 'b', 'a', 'b', 'c']) q.add(k);
    q.start();
    // Two workers: a and b together (0–20 ms), then c (20–40 ms); one at a time would take 60 ms.
    await vi.advanceTimersByTimeAsync(40);
    expect(done.sort()).toEqual(['a', 'b', 'c']);
    expect(maxRunning).toBe(2);
    await vi.advanceTimersByTimeAsync(1000);
    await q.stop();
    expect(seen.sort()).toEqual(['a', 'b', 'c']);
  });

  it('retries a thrown error with backoff', async () => {
    const attempts: Record<string, number> = { retry: 0 };
    const results: string[] = [];
    const q = new WorkQueue(
      (key) => {
        attempts[key] = (attempts[key] ?? 0) + 1;
        if ((attempts[key] ?? 0) < 3) return Promise.reject(new Error('transient'));
        return Promise.resolve();
      },
      log,
      { workers: 1, baseDelayMs: 10, onResult: (k, r) => results.push(`${k}:${r}`) },
    );
    q.start();
    q.add('retry');
    // Backoff: the second attempt 10 ms after the first failure, the third 20 ms after the second.
    await vi.advanceTimersByTimeAsync(9);
    expect(attempts.retry).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(attempts.retry).toBe(2);
    await vi.advanceTimersByTimeAsync(19);
    expect(attempts.retry).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(attempts.retry).toBe(3);
    await vi.advanceTimersByTimeAsync(1000);
    await q.stop();
    expect(attempts).toEqual({ retry: 3 });
    expect(results).toEqual(['retry:error', 'retry:error', 'retry:success']);
  });
});
