import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { InvalidSignatureError, UnrecognizedClientError } from '../errors.js';

/**
 * AWS Signature Version 4 verification (header form, `AWS4-HMAC-SHA256`), written against
 * AWS's published algorithm and test suite: the gateway recomputes the signature from the
 * request exactly as received and compares it in constant time.
 */
export interface SignedRequest {
  method: string;
  /** The path exactly as on the request line (still percent-encoded), without the query. */
  path: string;
  /** The raw query string without `?` ('' when none). */
  query: string;
  /** Header values by lower-case name, in the order received. */
  headers: Record<string, string[]>;
  body: Buffer;
}

export interface ParsedAuthorization {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

export const ALGORITHM = 'AWS4-HMAC-SHA256';
const UNRESERVED = /[!'()*]/g;

const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ is %XX. */
export function uriEscape(s: string): string {
  return encodeURIComponent(s).replace(UNRESERVED, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The canonical URI for services other than S3: the path normalised (empty, `.` and `..`
 * segments removed) and URI-encoded once more — the SDK signs the already-encoded path, so
 * `my-fn%3Aprod` becomes `my-fn%253Aprod`.
 */
export function canonicalUri(path: string): string {
  const segments: string[] = [];
  for (const s of path.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segments.pop();
    else segments.push(s);
  }
  const trailing = segments.length > 0 && path.endsWith('/') ? '/' : '';
  return uriEscape(`/${segments.join('/')}${trailing}`).replace(/%2F/g, '/');
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new InvalidSignatureError('The request query string is not validly percent-encoded.');
  }
}

/** The canonical query string: each name and value decoded, re-encoded strictly, sorted. */
export function canonicalQuery(query: string): string {
  const pairs: [string, string][] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    pairs.push([uriEscape(decode(k)), uriEscape(decode(v))]);
  }
  pairs.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/** A header's canonical value: values trimmed, inner runs of spaces collapsed, joined by ','. */
export function canonicalHeaderValue(values: string[]): string {
  return values.map((v) => v.trim().replace(/\s+/g, ' ')).join(',');
}

export function canonicalRequest(req: SignedRequest, signedHeaders: string[], payloadHash: string): string {
  const headerLines = signedHeaders
    .map((h) => `${h}:${canonicalHeaderValue(req.headers[h] ?? [])}\n`)
    .join('');
  return [
    req.method.toUpperCase(),
    canonicalUri(req.path),
    canonicalQuery(req.query),
    headerLines,
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
}

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return [ALGORITHM, amzDate, scope, sha256Hex(canonical)].join('\n');
}

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

/** Computes the signature of a request (used by verify and by tests). */
export function computeSignature(
  req: SignedRequest,
  auth: Omit<ParsedAuthorization, 'signature' | 'accessKeyId'>,
  amzDate: string,
  secret: string,
): string {
  const payloadHash = sha256Hex(req.body);
  const canonical = canonicalRequest(req, auth.signedHeaders, payloadHash);
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  return createHmac('sha256', signingKey(secret, auth.date, auth.region, auth.service))
    .update(stringToSign(amzDate, scope, canonical))
    .digest('hex');
}

/** Parses `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=…, Signature=…`. */
export function parseAuthorization(header: string): ParsedAuthorization {
  if (!header.startsWith(`${ALGORITHM} `)) {
    throw new InvalidSignatureError(`Unsupported Authorization algorithm: expected ${ALGORITHM}`);
  }
  const fields: Record<string, string> = {};
  for (const part of header.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  const cred = (fields.Credential ?? '').split('/');
  const signedHeaders = (fields.SignedHeaders ?? '').split(';').filter(Boolean);
  const signature = fields.Signature ?? '';
  if (
    cred.length !== 5 ||
    cred[4] !== 'aws4_request' ||
    signedHeaders.length === 0 ||
    !/^[0-9a-f]{64}$/.test(signature)
  ) {
    throw new InvalidSignatureError(
      'Authorization header requires Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders and a hex Signature.',
    );
  }
  const [accessKeyId, date, region, service] = cred as [string, string, string, string];
  return { accessKeyId, date, region, service, signedHeaders, signature };
}

/** `20150830T123600Z` → epoch ms; NaN when malformed. */
export function parseAmzDate(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return NaN;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, se);
}

export interface VerifyOptions {
  /** The secret of an access key id, or undefined when the key is unknown. */
  secretOf(accessKeyId: string): string | undefined;
  now: number;
  /** Allowed clock skew (AWS: 5 minutes). */
  maxSkewMs: number;
  /** The signing service (`lambda`). */
  service: string;
}

/** The request without its body: what can be checked before a byte of the body is read. */
export type RequestHead = Omit<SignedRequest, 'body'>;

/**
 * Rejects paths SigV4 would normalise but the router does not (`.`, `..`, empty segments; one
 * trailing slash is fine: SigV4 keeps it). Otherwise a signature made for one path would also
 * verify for another within the date window — `/a/x/../b` signs as `/a/b`.
 */
export function assertCanonicalPath(path: string): void {
  const segments = path.split('/').slice(1);
  const inner =
    segments.length > 1 && segments[segments.length - 1] === '' ? segments.slice(0, -1) : segments;
  if (path === '/') return;
  if (!path.startsWith('/') || inner.some((s) => s === '' || s === '.' || s === '..')) {
    throw new InvalidSignatureError(
      `The request path ${JSON.stringify(path.slice(0, 256))} has ".", ".." or empty segments, which SigV4 normalises: send the path in its normal form.`,
    );
  }
}

/**
 * Headers a signature must cover when they are present: every `x-amz-*` header (invocation type,
 * log type, client context, the date, the security token…) and `Idempotency-Key`, so none can be
 * added or changed by whoever replays a signed request. `@aws-sdk/client-lambda` and the AWS CLI
 * sign every header but a short list (user-agent, expect, x-amzn-trace-id, hop-by-hop headers).
 */
export function mustBeSigned(name: string): boolean {
  return name.startsWith('x-amz-') || name === 'idempotency-key' || name === 'host';
}

/** A request whose head passed: what the body check needs. */
export interface CheckedHead {
  auth: ParsedAuthorization;
  amzDate: string;
  secret: string;
}

/**
 * Checks everything of a SigV4 request but its body, cheapest first and before any body is read:
 * the path's form, the Authorization header's shape and scope, the signed headers, the date window
 * and the key's existence. Throws a 403 error.
 */
export function checkSigV4Head(req: RequestHead, opts: VerifyOptions): CheckedHead {
  assertCanonicalPath(req.path);
  const auth = parseAuthorization(canonicalHeaderValue(req.headers.authorization ?? []));
  if (auth.service !== opts.service) {
    throw new InvalidSignatureError(`Credential should be scoped to correct service: '${opts.service}'.`);
  }
  for (const h of ['host', 'x-amz-date', ...Object.keys(req.headers).filter(mustBeSigned)]) {
    if (!auth.signedHeaders.includes(h)) {
      throw new InvalidSignatureError(
        `'${h}' must be a signed header: every x-amz-* header and Idempotency-Key must be in SignedHeaders.`,
      );
    }
  }
  const amzDate = canonicalHeaderValue(req.headers['x-amz-date'] ?? []);
  const signedAt = parseAmzDate(amzDate);
  if (Number.isNaN(signedAt))
    throw new InvalidSignatureError('X-Amz-Date is missing or not in the form YYYYMMDDTHHMMSSZ.');
  if (amzDate.slice(0, 8) !== auth.date) {
    throw new InvalidSignatureError('Credential should be scoped to a valid date matching X-Amz-Date.');
  }
  if (Math.abs(opts.now - signedAt) > opts.maxSkewMs) {
    throw new InvalidSignatureError(
      `Signature expired: ${amzDate} is outside the allowed clock skew of ${opts.maxSkewMs / 60000} minutes from ${new Date(opts.now).toISOString()}.`,
    );
  }
  const secret = opts.secretOf(auth.accessKeyId);
  if (secret === undefined) {
    throw new UnrecognizedClientError('The security token included in the request is invalid.');
  }
  return { auth, amzDate, secret };
}

/** Verifies the signature over the whole request once the body is read; returns the access key id. */
export function verifySigV4Body(req: RequestHead, body: Buffer, head: CheckedHead): string {
  const declared = req.headers['x-amz-content-sha256']?.[0];
  if (declared !== undefined && declared !== sha256Hex(body)) {
    throw new InvalidSignatureError(
      'The provided x-amz-content-sha256 header does not match what was computed.',
    );
  }
  const expected = Buffer.from(
    computeSignature({ ...req, body }, head.auth, head.amzDate, head.secret),
    'hex',
  );
  const given = Buffer.from(head.auth.signature, 'hex');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    throw new InvalidSignatureError(
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  return head.auth.accessKeyId;
}

/** Verifies a SigV4-signed request; returns the access key id or throws a 403 error. */
export function verifySigV4(req: SignedRequest, opts: VerifyOptions): string {
  return verifySigV4Body(req, req.body, checkSigV4Head(req, opts));
}
