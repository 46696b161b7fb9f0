import { createHash } from 'node:crypto';
import { LoadShedError, UnrecognizedClientError } from '../errors.js';
import type { KeyedTokenBuckets } from '../limits/rate.js';
import { ANONYMOUS, type Principal } from './principal.js';
import { checkSigV4Head, verifySigV4Body, type RequestHead } from './sigv4.js';

/** An access key: its secret and the principal it acts as. */
export interface AccessKey {
  secretAccessKey: string;
  principal: Principal;
}

/** Access keys by id (Kubernetes Secrets in kube-auth.ts; a map in tests). */
export interface AccessKeyStore {
  get(accessKeyId: string): AccessKey | undefined;
}

/**
 * Bearer-token verification (Kubernetes TokenReview in kube-auth.ts). Undefined: not
 * authenticated. `client` is the caller's address (failed reviews are rate-limited by it).
 */
export interface TokenReviewer {
  review(token: string, client?: string): Promise<Principal | undefined>;
}

/** A request as authentication sees it: its head (no body) and the peer's address. */
export type AuthRequest = RequestHead & { remoteAddress?: string };

/**
 * Who sent a request. Anonymous when it carries no credentials; throws a 403 error for bad ones
 * (429 when the caller's address is over its failed-authentication rate). The body is read only
 * through `body`, and only to verify a SigV4 signature whose head (path, header, date, key) passed.
 */
export interface Authenticator {
  authenticate(req: AuthRequest, body?: () => Promise<Buffer>): Promise<Principal>;
}

export class MapAccessKeys implements AccessKeyStore {
  constructor(private readonly keys = new Map<string, AccessKey>()) {}
  set(id: string, key: AccessKey): void {
    this.keys.set(id, key);
  }
  delete(id: string): void {
    this.keys.delete(id);
  }
  get(id: string): AccessKey | undefined {
    return this.keys.get(id);
  }
}

export interface GatewayAuthenticatorOptions {
  tokens: TokenReviewer;
  keys: AccessKeyStore;
  /** Allowed clock skew of SigV4 signatures; AWS allows 5 minutes. */
  maxSkewMs?: number;
  now?: () => number;
}

/** Bearer tokens (TokenReview) and AWS SigV4 signatures (access keys), or anonymous. */
export class GatewayAuthenticator implements Authenticator {
  constructor(private readonly opts: GatewayAuthenticatorOptions) {}

  async authenticate(req: AuthRequest, body?: () => Promise<Buffer>): Promise<Principal> {
    const header = req.headers.authorization?.[0];
    if (header === undefined || header === '') return ANONYMOUS;
    if (/^bearer /i.test(header)) {
      const principal = await this.opts.tokens.review(header.slice(7).trim(), req.remoteAddress);
      if (!principal)
        throw new UnrecognizedClientError('The bearer token included in the request is invalid.');
      return principal;
    }
    const head = checkSigV4Head(req, {
      secretOf: (id) => this.opts.keys.get(id)?.secretAccessKey,
      now: (this.opts.now ?? Date.now)(),
      maxSkewMs: this.opts.maxSkewMs ?? 5 * 60_000,
      service: 'lambda',
    });
    const keyId = verifySigV4Body(req, body ? await body() : Buffer.alloc(0), head);
    const key = this.opts.keys.get(keyId);
    if (!key) throw new UnrecognizedClientError('The security token included in the request is invalid.');
    return key.principal;
  }
}

interface CacheEntry {
  principal: Principal | undefined;
  expires: number;
}

export interface CachedTokenReviewerOptions {
  /** How long an accepted token is trusted without asking again. */
  ttlMs?: number;
  /** How long a rejected token is answered from memory. */
  negativeTtlMs?: number;
  maxEntries?: number;
  /**
   * Failed reviews per client address: each rejection takes a token; with none left, tokens that
   * are not in the cache are refused (429) without asking the API server.
   */
  failures?: KeyedTokenBuckets;
  now?: () => number;
}

/**
 * Caches a TokenReviewer's answers briefly (keyed by the token's SHA-256, never the token):
 * accepted tokens for `ttlMs`, rejected ones for `negativeTtlMs`, at most `maxEntries`.
 * Concurrent reviews of the same token share one request. Failed reviews are rate-limited per
 * client address (`failures`), so nobody can make the gateway hammer the API server with guesses.
 */
export class CachedTokenReviewer implements TokenReviewer {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly pending = new Map<string, Promise<Principal | undefined>>();
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(
    private readonly inner: TokenReviewer,
    private readonly opts: CachedTokenReviewerOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.negativeTtlMs = opts.negativeTtlMs ?? 5_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  async review(token: string, client?: string): Promise<Principal | undefined> {
    const k = createHash('sha256').update(token).digest('hex');
    const hit = this.cache.get(k);
    if (hit && hit.expires > this.now()) return hit.principal;
    const failures = this.opts.failures;
    if (failures && client !== undefined && !failures.available(client)) {
      throw new LoadShedError(
        'auth_failures',
        'CallerRateLimitExceeded',
        'Too many requests with invalid credentials from this address; retry later',
        failures.retryAfterSeconds(client),
      );
    }
    let p = this.pending.get(k);
    if (!p) {
      p = this.inner.review(token, client).finally(() => this.pending.delete(k));
      this.pending.set(k, p);
    }
    const principal = await p;
    if (!principal && failures && client !== undefined) failures.take(client);
    if (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.delete(k);
    this.cache.set(k, { principal, expires: this.now() + (principal ? this.ttlMs : this.negativeTtlMs) });
    return principal;
  }
}
