import { describe, expect, it } from 'vitest';
import { admit, decodeHolders, encodeHolders, inUse, withOwn, type Holders } from './shared.js';

const TTL = 10_000;
const NOW = 1_000_000;
const state = (h: Holders['holders']): Holders => ({ holders: h });

describe('admit', () => {
  it.each([
    { name: 'empty: admitted', h: state({}), held: 0, limit: 1, want: { a: 1 } },
    { name: 'others fill the limit', h: state({ b: { n: 2, at: NOW } }), held: 0, limit: 2, want: undefined },
    { name: 'own calls count', h: state({ b: { n: 1, at: NOW } }), held: 1, limit: 2, want: undefined },
    {
      name: 'room left: own count written, others kept',
      h: state({ b: { n: 1, at: NOW } }),
      held: 1,
      limit: 4,
      want: { a: 2, b: 1 },
    },
    {
      name: 'a stale replica no longer counts and is dropped',
      h: state({ b: { n: 4, at: NOW - TTL - 1 } }),
      held: 0,
      limit: 4,
      want: { a: 1 },
    },
    {
      name: 'the stored own entry is replaced by what this replica holds',
      h: state({ a: { n: 9, at: NOW } }),
      held: 0,
      limit: 1,
      want: { a: 1 },
    },
    { name: 'limit 0 admits nothing', h: state({}), held: 0, limit: 0, want: undefined },
  ])('$name', ({ h, held, limit, want }) => {
    const got = admit(h, 'a', held, limit, NOW, TTL);
    expect(got && Object.fromEntries(Object.entries(got.holders).map(([k, v]) => [k, v.n]))).toEqual(want);
  });
});

describe('withOwn', () => {
  it('drops an own entry at 0 and refreshes it otherwise', () => {
    const h = state({ a: { n: 2, at: NOW - 5000 }, b: { n: 1, at: NOW } });
    expect(withOwn(h, 'a', 0, NOW, TTL)).toEqual(state({ b: { n: 1, at: NOW } }));
    expect(withOwn(h, 'a', 2, NOW, TTL).holders.a).toEqual({ n: 2, at: NOW });
  });
});

describe('decodeHolders', () => {
  it.each([
    {
      name: 'round trip',
      b: encodeHolders(state({ a: { n: 1, at: 5 } })),
      want: state({ a: { n: 1, at: 5 } }),
    },
    { name: 'empty', b: new Uint8Array(), want: state({}) },
    { name: 'garbage', b: Buffer.from('{nope'), want: state({}) },
    { name: 'another shape', b: Buffer.from('[1]'), want: state({}) },
  ])('$name', ({ b, want }) => {
    expect(decodeHolders(b)).toEqual(want);
    expect(inUse(decodeHolders(b), 5, TTL)).toBe(inUse(want, 5, TTL));
  });
});
