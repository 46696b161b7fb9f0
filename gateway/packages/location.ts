import { createHmac } from 'node:crypto';
import { tokensEqual } from '../../api/invoke-token.js';

/**
 * GetFunction's `Code.Location`: a gateway URL that downloads one namespace's package without
 * credentials for a short time, as Lambda's presigned S3 URL does —
 * `/2015-03-31/packages/NAMESPACE/DIGEST?expires=UNIX_SECONDS&signature=HEX`, the signature an
 * HMAC-SHA256 under the platform's invoke key of a string no invoke token can equal (they sign
 * "invoke:…").
 */

/** HMAC-SHA256 under the platform's key, lower-case hex. */
export type Signer = (payload: string) => string;

/** How long a Code.Location stays valid (Lambda's presigned URLs: 10 minutes). */
export const LOCATION_TTL_SECONDS = 600;

export const PACKAGE_DOWNLOAD_PREFIX = '/2015-03-31/packages';

export function makeSigner(key: Buffer): Signer {
  return (payload) => createHmac('sha256', key).update(payload).digest('hex');
}

const payload = (namespace: string, digest: string, expires: number): string =>
  `package-location:${namespace}/${digest}:${expires}`;

/** The path and query of a download link valid until `nowMs` + ttl. */
export function locationPath(
  sign: Signer,
  namespace: string,
  digest: string,
  nowMs: number,
  ttlSeconds = LOCATION_TTL_SECONDS,
): string {
  const expires = Math.floor(nowMs / 1000) + ttlSeconds;
  const signature = sign(payload(namespace, digest, expires));
  return `${PACKAGE_DOWNLOAD_PREFIX}/${encodeURIComponent(namespace)}/${encodeURIComponent(digest)}?expires=${expires}&signature=${signature}`;
}

/** Whether a link's expiry and signature are valid now. */
export function verifyLocation(
  sign: Signer,
  namespace: string,
  digest: string,
  expires: string | undefined,
  signature: string | undefined,
  nowMs: number,
): boolean {
  if (!expires || !/^\d{1,12}$/.test(expires) || !signature) return false;
  const at = Number(expires);
  if (at * 1000 < nowMs) return false;
  return tokensEqual(signature, sign(payload(namespace, digest, at)));
}
