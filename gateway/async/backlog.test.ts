import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { backlogFull, BacklogGuard } from './backlog.js';
import { AsyncBacklogFullError } from './errors.js';
import { AsyncMetrics } from './metrics.js';

describe('backlogFull', () => {
  it.each([
    { name: 'no limit', known: 1e9, since: 5, max: 0, want: false },
    { name: 'below', known: 8, since: 1, max: 10, want: false },
    { name: 'the known count reaches it', known: 10, since: 0, max: 10, want: true },
    { name: 'accepts since the read reach it', known: 7, since: 3, max: 10, want: true },
  ])('$name', ({ known, since, max, want }) => expect(backlogFull(known, since, max)).toBe(want));
});

describe('BacklogGuard', () => {
  const make = (counts: number[], maxEvents = 3, refreshMs = 1000) => {
    let now = 0;
    let reads = 0;
    const guard = new BacklogGuard({
      counter: {
        count: () => {
          reads++;
          return Promise.resolve(counts.shift() ?? 0);
        },
      },
      limit: { maxEvents, refreshMs },
      metrics: new AsyncMetrics(new Registry()),
      now: () => now,
    });
    return { guard, tick: (ms: number) => (now += ms), reads: () => reads };
  };

  it('counts its own accepts between reads and refuses at the limit', async () => {
    const g = make([1]);
    await g.guard.admit('ns', 'f');
    g.guard.accepted('ns', 'f');
    await g.guard.admit('ns', 'f');
    g.guard.accepted('ns', 'f');
    await expect(g.guard.admit('ns', 'f')).rejects.toBeInstanceOf(AsyncBacklogFullError);
    expect(g.reads()).toBe(1);
  });

  it('reads again after refreshMs: room again once the queue drained', async () => {
    const g = make([3, 0]);
    await expect(g.guard.admit('ns', 'f')).rejects.toBeInstanceOf(AsyncBacklogFullError);
    g.tick(1000);
    await g.guard.admit('ns', 'f');
    expect(g.reads()).toBe(2);
  });

  it('shares one read among concurrent accepts of a function; functions are counted apart', async () => {
    const g = make([0, 3]);
    await Promise.all([g.guard.admit('ns', 'a'), g.guard.admit('ns', 'a'), g.guard.admit('ns', 'a')]);
    expect(g.reads()).toBe(1);
    await expect(g.guard.admit('ns', 'b')).rejects.toBeInstanceOf(AsyncBacklogFullError);
  });
});
