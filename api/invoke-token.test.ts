import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { invokeToken, invokeTokenSecretName, tokensEqual } from './invoke-token.js';

const key = Buffer.from('k'.repeat(64));

describe('invokeToken', () => {
  it('is HMAC-SHA256 of "invoke:NAMESPACE/NAME" under the platform key, in hex', () => {
    expect(invokeToken(key, 'shop', 'resize')).toBe(
      createHmac('sha256', key).update('invoke:shop/resize').digest('hex'),
    );
  });

  it.each([
    { name: 'another function of the namespace', ns: 'shop', fn: 'checkout' },
    { name: 'the same name in another namespace', ns: 'other', fn: 'resize' },
    { name: 'a split that concatenates alike', ns: 'shop/re', fn: 'size' },
  ])('differs for $name', ({ ns, fn }) => {
    expect(invokeToken(key, ns, fn)).not.toBe(invokeToken(key, 'shop', 'resize'));
  });

  it('differs under another key', () => {
    expect(invokeToken(Buffer.from('x'.repeat(64)), 'shop', 'resize')).not.toBe(
      invokeToken(key, 'shop', 'resize'),
    );
  });
});

describe('tokensEqual', () => {
  it.each([
    { name: 'equal', a: 'abc', b: 'abc', want: true },
    { name: 'different', a: 'abc', b: 'abd', want: false },
    { name: 'a prefix', a: 'abc', b: 'ab', want: false },
    { name: 'both empty (no token is never a match)', a: '', b: '', want: false },
  ])('$name', ({ a, b, want }) => expect(tokensEqual(a, b)).toBe(want));
});

describe('invokeTokenSecretName', () => {
  it.each([
    { name: 'a short function', fn: 'resize', want: 'sluice-invoke-resize' },
    {
      name: 'a 63-character function (hashed to a label)',
      fn: `f${'x'.repeat(62)}`,
      want: /^sluice-invoke-f[x]+-[0-9a-f]{8}$/,
    },
  ])('$name', ({ fn, want }) => {
    const n = invokeTokenSecretName(fn);
    expect(n.length).toBeLessThanOrEqual(63);
    if (typeof want === 'string') expect(n).toBe(want);
    else expect(n).toMatch(want);
  });
});
