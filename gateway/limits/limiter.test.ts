import { describe, expect, it } from 'vitest';
import { ThrottledError } from '../errors.js';
import { ConcurrencyLimiter, shareOf, StaticPeers } from './limiter.js';

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

describe('ConcurrencyLimiter', () => {
  it.each([
    { name: 'unreserved: no per-function cap', reserved: undefined, peers: new StaticPeers(), admitted: 50 },
    { name: 'reserved 3 on one replica', reserved: 3, peers: new StaticPeers(), admitted: 3 },
    { name: 'reserved 10 on replica 2 of 3', reserved: 10, peers: new StaticPeers(3, 2), admitted: 3 },
    { name: 'reserved 0 throttles everything', reserved: 0, peers: new StaticPeers(), admitted: 0 },
  ])('$name', ({ reserved, peers, admitted }) => {
    const l = new ConcurrencyLimiter(peers);
    let n = 0;
    for (let i = 0; i < 50; i++) {
      try {
        l.acquire('default', 'f', reserved);
        n++;
      } catch (err) {
        expect(err).toBeInstanceOf(ThrottledError);
        expect((err as ThrottledError).reason).toBe('ReservedFunctionConcurrentInvocationLimitExceeded');
      }
    }
    expect(n).toBe(admitted);
  });

  it('releases make room again, once each', () => {
    const l = new ConcurrencyLimiter(new StaticPeers());
    const release = l.acquire('default', 'f', 1);
    expect(() => l.acquire('default', 'f', 1)).toThrow(ThrottledError);
    release();
    release();
    expect(l.current('default', 'f')).toBe(0);
    l.acquire('default', 'f', 1);
    expect(() => l.acquire('default', 'f', 1)).toThrow(ThrottledError);
  });

  it('functions are limited independently; the replica-wide cap applies to all', () => {
    const l = new ConcurrencyLimiter(new StaticPeers(), 3);
    l.acquire('default', 'a', 1);
    l.acquire('default', 'b', 1);
    l.acquire('other', 'a', 1);
    try {
      l.acquire('default', 'c', undefined);
      expect.unreachable();
    } catch (err) {
      expect((err as ThrottledError).reason).toBe('ConcurrentInvocationLimitExceeded');
    }
  });
});
