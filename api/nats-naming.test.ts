import { describe, expect, it } from 'vitest';
import { consumerName, Subjects } from './nats-naming.js';

const NATS_NAME = /^[A-Za-z0-9_-]{1,64}$/;

describe('subjects', () => {
  const s = new Subjects('sluice');
  it.each([
    { name: 'plain', ns: 'shop', fn: 'resize', want: 'sluice.async.shop.resize' },
    {
      name: 'dots in the name stay one token',
      ns: 'shop',
      fn: 'img.resize.v2',
      want: 'sluice.async.shop.img_resize_v2',
    },
    { name: 'hyphens and digits', ns: 'team-1', fn: 'a-1', want: 'sluice.async.team-1.a-1' },
  ])('async: $name', ({ ns, fn, want }) => {
    expect(s.async(ns, fn)).toBe(want);
    expect(s.dlq(ns, fn)).toBe(want.replace('.async.', '.dlq.'));
  });

  it.each([
    { name: 'wildcard in a name', ns: 'shop', fn: 'a*' },
    { name: 'full wildcard', ns: 'shop', fn: '>' },
    { name: 'upper case', ns: 'Shop', fn: 'x' },
    { name: 'space', ns: 'shop', fn: 'a b' },
    { name: 'empty', ns: 'shop', fn: '' },
    { name: 'dot in a namespace', ns: 'a.b', fn: 'x' },
    { name: 'underscore (would make names ambiguous)', ns: 'shop', fn: 'a_b' },
  ])('rejects $name', ({ ns, fn }) => {
    expect(() => s.async(ns, fn)).toThrow(/not a valid/);
  });

  it('retry subjects carry a token', () => {
    expect(s.retry('shop', 'resize', 'abc-2')).toBe('sluice.retry.shop.resize.abc-2');
    expect(() => s.retry('shop', 'resize', 'a.b')).toThrow();
  });

  it('rejects a prefix with wildcards', () => {
    expect(() => new Subjects('sluice.*')).toThrow();
  });
});

describe('consumerName', () => {
  it.each([
    { name: 'short', ns: 'shop', fn: 'resize', want: 'fn_shop_resize' },
    { name: 'dots become _', ns: 'shop', fn: 'img.resize', want: 'fn_shop_img_resize' },
  ])('$name', ({ ns, fn, want }) => {
    expect(consumerName(ns, fn)).toBe(want);
  });

  it('long names are shortened with a hash, stay valid and distinct', () => {
    const ns = 'n'.repeat(63);
    const a = consumerName(ns, 'f'.repeat(200));
    const b = consumerName(ns, `${'f'.repeat(199)}g`);
    expect(a).toMatch(NATS_NAME);
    expect(b).toMatch(NATS_NAME);
    expect(a).not.toBe(b);
  });

  it('distinct functions never share a consumer', () => {
    const names = new Set<string>();
    for (const [ns, fn] of [
      ['a', 'b-c'],
      ['a-b', 'c'],
      ['a', 'b.c'],
      ['a-b', 'c'],
    ] as const)
      names.add(`${ns}/${fn}=>${consumerName(ns, fn)}`);
    const byName = new Map<string, string>();
    for (const entry of names) {
      const [id, c] = entry.split('=>') as [string, string];
      expect(byName.get(c) ?? id).toBe(id);
      byName.set(c, id);
    }
    expect(byName.size).toBe(3);
  });
});
