import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAccount, fromSeed, Prefix } from '@nats-io/nkeys';
// The library's own (internal) codec, only to check the local encoding against it.
import { Codec } from '@nats-io/nkeys/lib/codec.js';
import { deriveKeyPair, encodeSeed, tenantAccountKey } from './nkeys.js';

const td = new TextDecoder();

describe('encodeSeed', () => {
  it.each([
    { name: 'account', role: Prefix.Account, first: 'SA' },
    { name: 'user', role: Prefix.User, first: 'SU' },
    { name: 'operator', role: Prefix.Operator, first: 'SO' },
  ])('$name seeds match the nkeys codec byte for byte', ({ role, first }) => {
    for (let i = 0; i < 20; i++) {
      const raw = new Uint8Array(randomBytes(32));
      const mine = encodeSeed(role, raw);
      expect(mine).toBe(td.decode(Codec.encodeSeed(role, raw)));
      expect(mine.startsWith(first)).toBe(true);
      // and it is a seed nkeys accepts
      expect(td.decode(fromSeed(new TextEncoder().encode(mine)).getSeed())).toBe(mine);
    }
  });

  it('round-trips a generated key: its seed re-encodes to itself', () => {
    const kp = createAccount();
    const seed = kp.getSeed();
    const raw = Codec.decodeSeed(seed).buf;
    expect(encodeSeed(Prefix.Account, raw)).toBe(td.decode(seed));
  });

  it('refuses anything but 32 bytes', () => {
    expect(() => encodeSeed(Prefix.Account, new Uint8Array(31))).toThrow(/32 bytes/);
  });
});

describe('derived keys', () => {
  const master = new Uint8Array(32).fill(7);
  it('are stable for one UID, differ between UIDs and between masters', () => {
    const a1 = tenantAccountKey(master, 'uid-1').getPublicKey();
    expect(tenantAccountKey(master, 'uid-1').getPublicKey()).toBe(a1);
    expect(a1.startsWith('A')).toBe(true);
    expect(tenantAccountKey(master, 'uid-2').getPublicKey()).not.toBe(a1);
    expect(tenantAccountKey(new Uint8Array(32).fill(8), 'uid-1').getPublicKey()).not.toBe(a1);
    expect(deriveKeyPair(master, 'account:uid-1', Prefix.User).getPublicKey().startsWith('U')).toBe(true);
  });
});
