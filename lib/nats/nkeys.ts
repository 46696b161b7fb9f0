import { hkdfSync } from 'node:crypto';
import { fromSeed, Prefix, type KeyPair } from '@nats-io/nkeys';

/**
 * nkey seeds from raw bytes. @nats-io/nkeys has no public call that turns 32 bytes into a seed
 * (only its internal codec does), so the encoding is written out here: base32 (RFC 4648, no
 * padding) of [seed prefix, role][32 raw bytes][CRC-16/XMODEM, little-endian].
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(data: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** CRC-16/XMODEM (polynomial 0x1021, initial value 0), as nkeys checks it. */
export function crc16(data: Uint8Array): number {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The seed text (`S…`) of a key of `role` (Prefix.Account, Prefix.User…) from 32 raw bytes. */
export function encodeSeed(role: Prefix, raw: Uint8Array): string {
  if (raw.byteLength !== 32) throw new RangeError(`an nkey seed needs 32 bytes, not ${raw.byteLength}`);
  const buf = new Uint8Array(2 + 32 + 2);
  buf[0] = Prefix.Seed | (role >> 5);
  buf[1] = (role & 31) << 3;
  buf.set(raw, 2);
  const sum = crc16(buf.subarray(0, 34));
  buf[34] = sum & 0xff;
  buf[35] = sum >> 8;
  return base32(buf);
}

/**
 * A key pair derived from a secret: 32 bytes of HKDF-SHA256(master, salt "sluice-nats/v1", info)
 * as the seed of a key of `role`. The same inputs always give the same key.
 */
export function deriveKeyPair(master: Uint8Array, info: string, role: Prefix): KeyPair {
  const raw = new Uint8Array(hkdfSync('sha256', master, 'sluice-nats/v1', info, 32));
  return fromSeed(new TextEncoder().encode(encodeSeed(role, raw)));
}

/**
 * The identity key of a namespace's NATS account, from the namespace's UID (not its name): a
 * namespace deleted and created again under the same name gets a new account, so neither old
 * credentials nor old streams come back.
 */
export function tenantAccountKey(master: Uint8Array, namespaceUid: string): KeyPair {
  return deriveKeyPair(master, `account:${namespaceUid}`, Prefix.Account);
}
