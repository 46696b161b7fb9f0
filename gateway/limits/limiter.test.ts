import { describe, expect, it } from 'vitest';
import { ThrottledError } from '../errors.js';
import { ConcurrencyLimiter, shareOf, StaticPeers } from './limiter.js';
import type { SharedCounter } from './shared.js';

describe('shareOf', () => {
  it.each([
    { name: 'one replica gets it all', limit: 10, replicas: 1, shares: [10] },
    { name: 'even split', limit: 10, replicas: 2, shares: [5, 5] },
    { name: 'remainder to the first replicas', limit: 10, replicas: 3, shares: [4, 3, 3] },
    { name: 'limit below replicas', limit: 2, replicas: 3, shares: [1, 1, 0] },
    { name: 'zero stops everything', limit: 0, replicas: 2, shares: [0, 0] },
  ])('$name', ({ limit, replicas, shares }) => {
    const got = Array.from({ length: replicas }, (_, i) => shareOf(limit, replicas, i));
    expect(got).toEqual(shares);
    expect(got.reduce((a, b) => a + b, 0)).toBe(limit);
  });
});

/** A shared counter in memory; `down` makes it unavailable. */
class FakeShared implements SharedCounter {
  readonly n = new Map<string, number>();
  down = false;
  tryAcquire(key: string, limit: number): Promise<boolean | 'unavailable'> {
    if (this.down) return Promise.resolve('unavailable');
    const cur = this.n.get(key) ?? 0;
    if (cur >= limit) return Promise.resolve(false);
    this.n.set(key, cur + 1);
    return Promise.resolve(true);
  }
  release(key: string): Promise<void> {
    this.n.set(key, (this.n.get(key) ?? 1) - 1);
    return Promise.resolve();
  }
}

async function admittedOf(l: ConcurrencyLimiter, reserved: number | undefined, tries = 50): Promise<number> {
  let n = 0;
  for (let i = 0; i < tries; i++) {
    try {
      await l.acquire('default', 'f', reserved);
      n++;
    } catch (err) {
      expect(err).toBeInstanceOf(ThrottledError);
      expect((err as ThrottledError).reason).toBe('ReservedFunctionConcurrentInvocationLimitExceeded');
    }
  }
  return n;
}

describe('ConcurrencyLimiter', () => {
  it.each([
    { name: 'unreserved: no per-function cap', reserved: undefined, peers: new StaticPeers(), admitted: 50 },
    { name: 'reserved 3 on one replica', reserved: 3, peers: new StaticPeers(), admitted: 3 },
    { name: 'reserved 10 on replica 2 of 3', reserved: 10, peers: new StaticPeers(3, 2), admitted: 3 },
    { name: 'reserved 0 throttles everything', reserved: 0, peers: new StaticPeers(), admitted: 0 },
  ])('without a shared counter: $name', async ({ reserved, peers, admitted }) => {
    expect(await admittedOf(new ConcurrencyLimiter(peers), reserved)).toBe(admitted);
  });

  it.each([
    { name: 'the whole limit on one replica of 3', reserved: 10, admitted: 10 },
    { name: 'a limit below the replica count', reserved: 2, admitted: 2 },
    { name: 'reserved 0 throttles everything', reserved: 0, admitted: 0 },
  ])('with a shared counter: $name', async ({ reserved, admitted }) => {
    const fallbacks: string[] = [];
    const l = new ConcurrencyLimiter(new StaticPeers(3, 2), Infinity, new FakeShared(), {
      fallback: (ns, fn) => fallbacks.push(`${ns}/${fn}`),
    });
    expect(await admittedOf(l, reserved)).toBe(admitted);
    expect(fallbacks).toEqual([]);
  });

  it('replicas sharing a counter admit the limit between them, wherever the calls arrive', async () => {
    const shared = new FakeShared();
    const ls = [0, 1, 2].map((i) => new ConcurrencyLimiter(new StaticPeers(3, i), Infinity, shared));
    // all through replica 2 (its share would be 1), then nothing left on the others
    expect(await admittedOf(ls[2]!, 4, 10)).toBe(4);
    expect(await admittedOf(ls[0]!, 4, 10)).toBe(0);
    expect(shared.n.get('default/f')).toBe(4);
  });

  it('falls back to the per-replica share while the shared counter is unavailable, and reports it', async () => {
    const shared = new FakeShared();
    shared.down = true;
    const fallbacks: string[] = [];
    const l = new ConcurrencyLimiter(new StaticPeers(3, 2), Infinity, shared, {
      fallback: (ns, fn) => fallbacks.push(`${ns}/${fn}`),
    });
    expect(await admittedOf(l, 10, 10)).toBe(3);
    expect(fallbacks).toHaveLength(10);
    expect(fallbacks[0]).toBe('default/f');
  });

  it('releases make room again, once each', async () => {
    const shared = new FakeShared();
    const l = new ConcurrencyLimiter(new StaticPeers(), Infinity, shared);
    const release = await l.acquire('default', 'f', 1);
    await expect(l.acquire('default', 'f', 1)).rejects.toThrow(ThrottledError);
    await release();
    await release();
    expect(l.current('default', 'f')).toBe(0);
    expect(shared.n.get('default/f')).toBe(0);
    await l.acquire('default', 'f', 1);
    await expect(l.acquire('default', 'f', 1)).rejects.toThrow(ThrottledError);
  });

  it('functions are limited independently; the replica-wide cap applies to all', async () => {
    const l = new ConcurrencyLimiter(new StaticPeers(), 3, new FakeShared());
    await l.acquire('default', 'a', 1);
    await l.acquire('default', 'b', 1);
    await l.acquire('other', 'a', 1);
    await expect(l.acquire('default', 'c', undefined)).rejects.toMatchObject({
      reason: 'ConcurrentInvocationLimitExceeded',
    });
  });

  it('a call the replica-wide cap refuses takes no shared slot', async () => {
    const shared = new FakeShared();
    const l = new ConcurrencyLimiter(new StaticPeers(), 1, shared);
    await l.acquire('default', 'a', 5);
    await expect(l.acquire('default', 'a', 5)).rejects.toMatchObject({
      reason: 'ConcurrentInvocationLimitExceeded',
    });
    expect(shared.n.get('default/a')).toBe(1);
  });
});
