import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger } from '../lib/log.js';
import { TerminalError } from '../lib/errors.js';
import { WorkQueue } from './workqueue.js';

const log = createLogger({
  component: 'test',
  level: 'silent',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
    await sleep(5);
    q.add('Function/a/b');
    q.add('Function/a/b');
    await sleep(120);
    await q.stop();
    expect(maxRunning).toBe(1);
    expect(runs).toBe(2);
  });

  it('dedupes queued keys and runs distinct keys in parallel', async () => {
    const seen: string[] = [];
    const q = new WorkQueue(
      async (key) => {
        seen.push(key);
        await sleep(20);
      },
      log,
      { workers: 2 },
    );
    for (const k of ['a', 'b', 'a', 'b', 'c']) q.add(k);
    const t0 = Date.now();
    q.start();
    while (seen.length < 3) await sleep(5);
    await q.stop();
    expect(seen.sort()).toEqual(['a', 'b', 'c']);
    expect(Date.now() - t0).toBeLessThan(200);
  });

  it('retries a thrown error with backoff, but not a TerminalError', async () => {
    const attempts: Record<string, number> = { retry: 0, terminal: 0 };
    const results: string[] = [];
    const q = new WorkQueue(
      (key) => {
        attempts[key] = (attempts[key] ?? 0) + 1;
        if (key === 'terminal') return Promise.reject(new TerminalError('Bad', 'no'));
        if ((attempts[key] ?? 0) < 3) return Promise.reject(new Error('transient'));
        return Promise.resolve();
      },
      log,
      { workers: 1, baseDelayMs: 10, onResult: (k, r) => results.push(`${k}:${r}`) },
    );
    q.start();
    q.add('retry');
    q.add('terminal');
    await sleep(150);
    await q.stop();
    expect(attempts).toEqual({ retry: 3, terminal: 1 });
    expect(results).toEqual(['retry:error', 'terminal:terminal', 'retry:error', 'retry:success']);
  });
});
