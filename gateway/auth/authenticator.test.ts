import { describe, expect, it } from 'vitest';
import { InvalidSignatureError, UnrecognizedClientError } from '../errors.js';
import {
  CachedTokenReviewer,
  GatewayAuthenticator,
  MapAccessKeys,
  type TokenReviewer,
} from './authenticator.js';
import { accessKeyFromSecret } from './kube-auth.js';
import { isAllowed, parsePrincipal, principalFromUsername, type Principal } from './principal.js';
import type { SignedRequest } from './sigv4.js';

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

const req = (authorization?: string): SignedRequest => ({
  method: 'POST',
  path: '/',
  query: '',
  headers: authorization ? { authorization: [authorization] } : {},
  body: Buffer.alloc(0),
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
    const cached = new CachedTokenReviewer(inner, 1000, 100, 10, () => now);
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
});
