import { describe, expect, it } from 'vitest';
import { ByteBudget } from './bytes.js';
import { KeyedTokenBuckets } from './rate.js';

describe('KeyedTokenBuckets', () => {
  it('allows a burst, then the rate, per key', () => {
    let now = 0;
    const b = new KeyedTokenBuckets({ ratePerSecond: 2, burst: 3 }, { now: () => now });
    expect([b.take('a'), b.take('a'), b.take('a'), b.take('a')]).toEqual([true, true, true, false]);
    expect(b.available('a')).toBe(false);
    expect(b.retryAfterSeconds('a')).toBe(1);
    // Another key has its own bucket.
    expect(b.take('b')).toBe(true);
    now = 499;
    expect(b.take('a')).toBe(false);
    now = 500;
    expect(b.take('a')).toBe(true);
    expect(b.take('a')).toBe(false);
    now = 10_000;
    expect([b.take('a'), b.take('a'), b.take('a'), b.take('a')]).toEqual([true, true, true, false]);
  });

  it('with rate 0 and burst 0 admits nothing', () => {
    const b = new KeyedTokenBuckets({ ratePerSecond: 0, burst: 0 });
    expect(b.take('a')).toBe(false);
  });

  it('keeps at most maxKeys buckets, forgetting full ones first', () => {
    let now = 0;
    const b = new KeyedTokenBuckets({ ratePerSecond: 1, burst: 2 }, { maxKeys: 3, now: () => now });
    b.take('drained');
    b.take('drained');
    for (let i = 0; i < 100; i++) {
      now += 10_000;
      b.take(`k${i}`);
      b.take(`k${i}`);
      b.take('drained');
      b.take('drained');
    }
    expect(b.size).toBeLessThanOrEqual(3);
    // The key in use is still limited.
    expect(b.available('drained')).toBe(false);
  });
});

describe('ByteBudget', () => {
  it('gives out bytes up to its capacity and takes them back', () => {
    const b = new ByteBudget(100);
    expect(b.tryTake(60)).toBe(true);
    expect(b.tryTake(41)).toBe(false);
    expect(b.used).toBe(60);
    expect(b.tryTake(40)).toBe(true);
    b.give(60);
    expect(b.used).toBe(40);
    expect(b.tryTake(60)).toBe(true);
    expect(b.tryTake(-1)).toBe(false);
  });
});
