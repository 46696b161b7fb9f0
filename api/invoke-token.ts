import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dnsLabel } from './naming.js';

/**
 * How a function pod knows a call comes from the platform (runtime/README.md "Caller
 * authentication"). The platform holds one random key (Secret `sluice-invoke-key` in its own
 * namespace, mounted into the gateway and the controller); each function has its own token,
 * HMAC-SHA256(key, "invoke:" + namespace + "/" + name). The controller writes the token into a
 * Secret of the function's namespace mounted into sluice-runtime only; the gateway computes it
 * for each call and sends it in `INVOKE_TOKEN_HEADER`. A token opens one function's pods only.
 */
export const INVOKE_TOKEN_HEADER = 'x-sluice-invoke-token';
/** The key of the token in the function's Secret, and the file name where it is mounted. */
export const INVOKE_TOKEN_KEY = 'token';
/** Where sluice-runtime finds its token (the Secret's volume). */
export const INVOKE_TOKEN_DIR = '/var/run/sluice/invoke';
export const INVOKE_TOKEN_FILE = `${INVOKE_TOKEN_DIR}/${INVOKE_TOKEN_KEY}`;
/** Where the gateway and the controller find the platform's key (the chart's Secret `sluice-invoke-key`). */
export const INVOKE_KEY_FILE = '/var/run/sluice/invoke-key/key';

/** A function's invoke token: lower-case hex of HMAC-SHA256(key, "invoke:NAMESPACE/NAME"). */
export function invokeToken(key: Buffer, namespace: string, fn: string): string {
  return createHmac('sha256', key).update(`invoke:${namespace}/${fn}`).digest('hex');
}

/** The Secret holding one function's token: `sluice-invoke-<fn>`, shortened with a hash when long. */
export function invokeTokenSecretName(fn: string): string {
  return dnsLabel(`sluice-invoke-${fn}`);
}

/** Constant-time comparison (of digests, so the length of a wrong token tells nothing either). */
export function tokensEqual(a: string, b: string): boolean {
  const d = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(d(a), d(b)) && a.length > 0;
}

/** Reads the platform's key (trailing whitespace dropped); throws when the file is missing or empty. */
export function readInvokeKey(file: string): Buffer {
  const key = readFileSync(file, 'utf8').trim();
  if (key.length < 32) throw new Error(`${file}: the invoke key must be at least 32 characters`);
  return Buffer.from(key, 'utf8');
}
