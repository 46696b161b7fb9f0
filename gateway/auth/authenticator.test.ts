import { describe, expect, it } from 'vitest';
import { InvalidSignatureError, UnrecognizedClientError } from '../errors.js';
import {
  CachedTokenReviewer,
  GatewayAuthenticator,
  MapAccessKeys,
  type AuthRequest,
  type TokenReviewer,
} from './authenticator.js';
import { accessKeyFromSecret } from './kube-auth.js';
import { isAllowed, parsePrincipal, principalFromUsername, type Principal } from './principal.js';
import { LoadShedError } from '../errors.js';
import { KeyedTokenBuckets } from '../limits/rate.js';
import { computeSignature } from './sigv4.js';

const sa = (namespace: string, name: string): Principal => ({ kind: 'serviceaccount', namespace, name });

describe('invokePolicy', () => {
  it.each([
    {
      name: 'default: same-namespace service account',
      policy: undefined,
      p: sa('shop', 'checkout'),
      ok: true,
    },
    { name: 'default: other namespace denied', policy: undefined, p: sa('other', 'x'), ok: false },
    {
      name: 'default: anonymous denied',
      policy: undefined,
      p: { kind: 'anonymous' } as Principal,
      ok: false,
    },
    {
      name: 'default: users denied',
      policy: undefined,
      p: { kind: 'user', name: 'alice' } as Principal,
      ok: false,
    },
    { name: 'empty list means default', policy: [], p: sa('shop', 'checkout'), ok: true },
    {
      name: '"*" admits anonymous',
      policy: [{ principal: '*' }],
      p: { kind: 'anonymous' } as Principal,
      ok: true,
    },
    {
      name: 'exact service account',
      policy: [{ principal: 'serviceaccount:web:frontend' }],
      p: sa('web', 'frontend'),
      ok: true,
    },
    {
      name: 'exact service account, other name',
      policy: [{ principal: 'serviceaccount:web:frontend' }],
      p: sa('web', 'admin'),
      ok: false,
    },
    {
      name: 'explicit policy replaces the default',
      policy: [{ principal: 'namespace:web' }],
      p: sa('shop', 'checkout'),
      ok: false,
    },
    { name: 'namespace entry', policy: [{ principal: 'namespace:web' }], p: sa('web', 'any'), ok: true },
    {
      name: 'user entry',
      policy: [{ principal: 'user:alice' }],
      p: { kind: 'user', name: 'alice' } as Principal,
      ok: true,
    },
    {
      name: 'user entry, other user',
      policy: [{ principal: 'user:alice' }],
      p: { kind: 'user', name: 'bob' } as Principal,
      ok: false,
    },
  ])('$name', ({ policy, p, ok }) => {
    expect(isAllowed(policy, 'shop', p)).toBe(ok);
  });

  it.each([
    { s: 'serviceaccount:shop:checkout', want: sa('shop', 'checkout') },
    { s: 'user:alice@example.com', want: { kind: 'user', name: 'alice@example.com' } },
    { s: 'nonsense', want: undefined },
  ])('parsePrincipal($s)', ({ s, want }) => {
    expect(parsePrincipal(s)).toEqual(want);
  });

  it('maps TokenReview usernames', () => {
    expect(principalFromUsername('system:serviceaccount:shop:checkout')).toEqual(sa('shop', 'checkout'));
    expect(principalFromUsername('kubernetes-admin')).toEqual({ kind: 'user', name: 'kubernetes-admin' });
  });

  it('reads access keys from Secrets (data is base64)', () => {
    const b = (s: string): string => Buffer.from(s).toString('base64');
    expect(
      accessKeyFromSecret({
        data: { accessKeyId: b('AKID1'), secretAccessKey: b('s3cret'), principal: b('user:ci') },
      }),
    ).toEqual({ id: 'AKID1', secretAccessKey: 's3cret', principal: { kind: 'user', name: 'ci' } });
    expect(accessKeyFromSecret({ data: { accessKeyId: b('AKID1') } })).toBeUndefined();
  });
});

const req = (authorization?: string): AuthRequest => ({
  method: 'POST',
  path: '/',
  query: '',
  headers: authorization ? { authorization: [authorization] } : {},
});

describe('GatewayAuthenticator', () => {
  class Tokens implements TokenReviewer {
    calls = 0;
    review(token: string): Promise<Principal | undefined> {
      this.calls++;
      return Promise.resolve(token === 'good' ? sa('shop', 'checkout') : undefined);
    }
  }

  it.each([
    { name: 'no credentials → anonymous', auth: undefined, want: { kind: 'anonymous' } },
    { name: 'valid bearer token', auth: 'Bearer good', want: sa('shop', 'checkout') },
  ])('$name', async ({ auth, want }) => {
    const a = new GatewayAuthenticator({ tokens: new Tokens(), keys: new MapAccessKeys() });
    expect(await a.authenticate(req(auth))).toEqual(want);
  });

  it.each([
    { name: 'invalid bearer token', auth: 'Bearer bad', err: UnrecognizedClientError },
    { name: 'unknown scheme', auth: 'Basic dTpw', err: InvalidSignatureError },
    { name: 'malformed SigV4 header', auth: 'AWS4-HMAC-SHA256 Credential=x', err: InvalidSignatureError },
  ])('rejects $name', async ({ auth, err }) => {
    const a = new GatewayAuthenticator({ tokens: new Tokens(), keys: new MapAccessKeys() });
    await expect(a.authenticate(req(auth))).rejects.toThrow(err);
  });

  it('caches TokenReview answers briefly and shares concurrent reviews', async () => {
    let now = 0;
    const inner = new Tokens();
    const cached = new CachedTokenReviewer(inner, {
      ttlMs: 1000,
      negativeTtlMs: 100,
      maxEntries: 10,
      now: () => now,
    });
    await Promise.all([cached.review('good'), cached.review('good'), cached.review('good')]);
    expect(inner.calls).toBe(1);
    now = 500;
    await cached.review('good');
    expect(inner.calls).toBe(1);
    now = 1500;
    await cached.review('good');
    expect(inner.calls).toBe(2);
    await cached.review('bad');
    now = 1550;
    expect(await cached.review('bad')).toBeUndefined();
    expect(inner.calls).toBe(3);
    now = 1700;
    await cached.review('bad');
    expect(inner.calls).toBe(4);
  });

  it('rate-limits failed reviews per client address, without asking the API server beyond it', async () => {
    let now = 0;
    const inner = new Tokens();
    const failures = new KeyedTokenBuckets({ ratePerSecond: 1, burst: 2 }, { now: () => now });
    const cached = new CachedTokenReviewer(inner, { negativeTtlMs: 0, failures, now: () => now });
    expect(await cached.review('good', '10.0.0.1')).toEqual(sa('shop', 'checkout'));
    expect(await cached.review('guess-1', '10.0.0.1')).toBeUndefined();
    expect(await cached.review('guess-2', '10.0.0.1')).toBeUndefined();
    expect(inner.calls).toBe(3);
    const blocked = cached.review('guess-3', '10.0.0.1');
    await expect(blocked).rejects.toThrow(LoadShedError);
    await expect(cached.review('guess-3', '10.0.0.1')).rejects.toMatchObject({
      status: 429,
      code: 'TooManyRequestsException',
      reason: 'CallerRateLimitExceeded',
    });
    expect(inner.calls).toBe(3);
    // A token already known good still works from that address; other addresses are not affected.
    expect(await cached.review('good', '10.0.0.1')).toEqual(sa('shop', 'checkout'));
    expect(await cached.review('guess-4', '10.0.0.2')).toBeUndefined();
    expect(inner.calls).toBe(4);
    // The bucket refills with time.
    now = 1000;
    expect(await cached.review('guess-5', '10.0.0.1')).toBeUndefined();
    expect(inner.calls).toBe(5);
  });
});

describe('GatewayAuthenticator reads the body last', () => {
  const keys = new MapAccessKeys();
  keys.set('AKIDSLUICE', { secretAccessKey: 'right-secret', principal: { kind: 'user', name: 'ci' } });
  const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);
  const amzDate = '20260102T030405Z';
  const signed = (
    body: string,
    opts: { key?: string; date?: string; extra?: Record<string, string[]> } = {},
  ) => {
    const headers: Record<string, string[]> = {
      host: ['gw'],
      'x-amz-date': [opts.date ?? amzDate],
    };
    const base = { method: 'POST', path: '/2015-03-31/functions/f/invocations', query: '', headers };
    const signedHeaders = Object.keys(headers).sort();
    const sig = computeSignature(
      { ...base, body: Buffer.from(body) },
      { date: (opts.date ?? amzDate).slice(0, 8), region: 'us-east-1', service: 'lambda', signedHeaders },
      opts.date ?? amzDate,
      'right-secret',
    );
    const auth = `AWS4-HMAC-SHA256 Credential=${opts.key ?? 'AKIDSLUICE'}/${(opts.date ?? amzDate).slice(0, 8)}/us-east-1/lambda/aws4_request, SignedHeaders=${signedHeaders.join(';')}, Signature=${sig}`;
    return { ...base, headers: { ...headers, ...opts.extra, authorization: [auth] } };
  };
  const tokens: TokenReviewer = {
    review: (t) => Promise.resolve(t === 'good' ? sa('shop', 'a') : undefined),
  };
  const authn = new GatewayAuthenticator({ tokens, keys, now: () => NOW });

  it.each([
    { name: 'anonymous', r: req(undefined), ok: true },
    { name: 'a good bearer token', r: req('Bearer good'), ok: true },
    { name: 'a bad bearer token', r: req('Bearer bad'), ok: false },
    { name: 'a stale SigV4 date', r: signed('{}', { date: '20250102T030405Z' }), ok: false },
    { name: 'an unknown access key', r: signed('{}', { key: 'AKIDOTHER' }), ok: false },
    {
      name: 'an unsigned x-amz header',
      r: signed('{}', { extra: { 'x-amz-invocation-type': ['Event'] } }),
      ok: false,
    },
    {
      name: 'a path SigV4 normalises',
      r: { ...signed('{}'), path: '/2015-03-31/functions/x/../f/invocations' },
      ok: false,
    },
  ])('never reads the body for $name', async ({ r, ok }) => {
    let reads = 0;
    const body = () => {
      reads++;
      return Promise.resolve(Buffer.from('{}'));
    };
    if (ok) await authn.authenticate(r, body);
    else await expect(authn.authenticate(r, body)).rejects.toThrow();
    expect(reads).toBe(0);
  });

  it('reads the body once the SigV4 head passed, and verifies the signature over it', async () => {
    let reads = 0;
    const body = (b: string) => () => {
      reads++;
      return Promise.resolve(Buffer.from(b));
    };
    expect(await authn.authenticate(signed('{"a":1}'), body('{"a":1}'))).toEqual({
      kind: 'user',
      name: 'ci',
    });
    await expect(authn.authenticate(signed('{"a":1}'), body('{"a":2}'))).rejects.toThrow(
      InvalidSignatureError,
    );
    expect(reads).toBe(2);
  });
});
