import { createHash } from 'node:crypto';
import { UnrecognizedClientError } from '../errors.js';
import { ANONYMOUS, type Principal } from './principal.js';
import { verifySigV4, type SignedRequest } from './sigv4.js';

/** An access key: its secret and the principal it acts as. */
export interface AccessKey {
  secretAccessKey: string;
  principal: Principal;
}

/** Access keys by id (Kubernetes Secrets in kube-auth.ts; a map in tests). */
export interface AccessKeyStore {
  get(accessKeyId: string): AccessKey | undefined;
}

/** Bearer-token verification (Kubernetes TokenReview in kube-auth.ts). Undefined: not authenticated. */
export interface TokenReviewer {
  review(token: string): Promise<Principal | undefined>;
}

/** Who sent a request. Anonymous when it carries no credentials; throws a 403 error for bad ones. */
export interface Authenticator {
  authenticate(req: SignedRequest): Promise<Principal>;
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

  async authenticate(req: SignedRequest): Promise<Principal> {
    const header = req.headers.authorization?.[0];
    if (header === undefined || header === '') return ANONYMOUS;
    if (/^bearer /i.test(header)) {
      const principal = await this.opts.tokens.review(header.slice(7).trim());
      if (!principal)
        throw new UnrecognizedClientError('The bearer token included in the request is invalid.');
      return principal;
    }
    const keyId = verifySigV4(req, {
      secretOf: (id) => this.opts.keys.get(id)?.secretAccessKey,
      now: (this.opts.now ?? Date.now)(),
      maxSkewMs: this.opts.maxSkewMs ?? 5 * 60_000,
      service: 'lambda',
    });
    return (this.opts.keys.get(keyId) as AccessKey).principal;
  }
}

interface CacheEntry {
  principal: Principal | undefined;
  expires: number;
}

/**
 * Caches a TokenReviewer's answers briefly (keyed by the token's SHA-256, never the token):
 * accepted tokens for `ttlMs`, rejected ones for `negativeTtlMs`, at most `maxEntries`.
 * Concurrent reviews of the same token share one request.
 */
export class CachedTokenReviewer implements TokenReviewer {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly pending = new Map<string, Promise<Principal | undefined>>();

  constructor(
    private readonly inner: TokenReviewer,
    private readonly ttlMs = 30_000,
    private readonly negativeTtlMs = 5_000,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  async review(token: string): Promise<Principal | undefined> {
    const k = createHash('sha256').update(token).digest('hex');
    const hit = this.cache.get(k);
    if (hit && hit.expires > this.now()) return hit.principal;
    let p = this.pending.get(k);
    if (!p) {
      p = this.inner.review(token).finally(() => this.pending.delete(k));
      this.pending.set(k, p);
    }
    const principal = await p;
    if (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.delete(k);
    this.cache.set(k, { principal, expires: this.now() + (principal ? this.ttlMs : this.negativeTtlMs) });
    return principal;
  }
}
