import { InvokeCommand, LambdaClient, type InvokeCommandInput } from '@aws-sdk/client-lambda';
import { describe, expect, it } from 'vitest';
import { InvalidSignatureError, UnrecognizedClientError } from '../errors.js';
import {
  assertCanonicalPath,
  canonicalQuery,
  canonicalRequest,
  canonicalUri,
  checkSigV4Head,
  computeSignature,
  parseAuthorization,
  uriEscape,
  verifySigV4,
  type SignedRequest,
} from './sigv4.js';

// AWS's published SigV4 test suite (aws-sig-v4-test-suite): credentials, date and scope.
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const AMZ_DATE = '20150830T123600Z';
const SCOPE = { date: '20150830', region: 'us-east-1', service: 'service' };
const EMPTY_SHA = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const rawQuery = (pairs: [string, string][]): string =>
  pairs.map(([k, v]) => `${uriEscape(k)}=${uriEscape(v)}`).join('&');

function vectorRequest(
  method: string,
  path: string,
  headers: [string, string][],
  query: [string, string][] = [],
): SignedRequest {
  const h: Record<string, string[]> = {};
  for (const [k, v] of [['Host', 'example.amazonaws.com'], ...headers, ['X-Amz-Date', AMZ_DATE]] as [
    string,
    string,
  ][]) {
    (h[k.toLowerCase()] ??= []).push(v);
  }
  return { method, path, query: rawQuery(query), headers: h, body: Buffer.alloc(0) };
}

describe('SigV4: AWS test suite vectors', () => {
  it.each([
    {
      name: 'get-vanilla',
      method: 'GET',
      path: '/',
      headers: [],
      query: [],
      sig: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    },
    {
      name: 'get-vanilla-query-order-key-case',
      method: 'GET',
      path: '/',
      headers: [],
      query: [
        ['Param2', 'value2'],
        ['Param1', 'value1'],
      ],
      sig: 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500',
    },
    {
      name: 'get-vanilla-empty-query-key',
      method: 'GET',
      path: '/',
      headers: [],
      query: [['Param1', 'value1']],
      sig: 'a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb',
    },
    {
      name: 'get-vanilla-query-unreserved',
      method: 'GET',
      path: '/',
      headers: [],
      query: [
        [
          '-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
          '-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
        ],
      ],
      sig: '9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197',
    },
    {
      name: 'get-vanilla-utf8-query',
      method: 'GET',
      path: '/',
      headers: [],
      query: [['ሴ', 'bar']],
      sig: '2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04',
    },
    {
      name: 'get-utf8',
      method: 'GET',
      path: '/ሴ',
      headers: [],
      query: [],
      sig: '8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85',
    },
    {
      name: 'get-unreserved',
      method: 'GET',
      path: '/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
      headers: [],
      query: [],
      sig: '07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f',
    },
    {
      name: 'get-relative',
      normalisedPath: true,
      method: 'GET',
      path: '/example/..',
      headers: [],
      query: [],
      sig: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    },
    {
      name: 'get-relative-relative',
      normalisedPath: true,
      method: 'GET',
      path: '/example1/example2/../..',
      headers: [],
      query: [],
      sig: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    },
    {
      name: 'get-slash',
      normalisedPath: true,
      method: 'GET',
      path: '//',
      headers: [],
      query: [],
      sig: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    },
    {
      name: 'get-slash-dot-slash',
      normalisedPath: true,
      method: 'GET',
      path: '/./',
      headers: [],
      query: [],
      sig: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    },
    {
      name: 'get-slash-pointless-dot',
      normalisedPath: true,
      method: 'GET',
      path: '/./example',
      headers: [],
      query: [],
      sig: 'ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5',
    },
    {
      name: 'get-slashes',
      normalisedPath: true,
      method: 'GET',
      path: '//example//',
      headers: [],
      query: [],
      sig: '9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84',
    },
    {
      name: 'get-space',
      method: 'GET',
      path: '/example space/',
      headers: [],
      query: [],
      sig: '652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741',
    },
    {
      name: 'get-header-key-duplicate',
      method: 'GET',
      path: '/',
      headers: [
        ['My-Header1', 'value2'],
        ['My-Header1', 'value2'],
        ['My-Header1', 'value1'],
      ],
      query: [],
      sig: 'c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea',
    },
    {
      name: 'get-header-value-order',
      method: 'GET',
      path: '/',
      headers: [
        ['My-Header1', 'value4'],
        ['My-Header1', 'value1'],
        ['My-Header1', 'value3'],
        ['My-Header1', 'value2'],
      ],
      query: [],
      sig: '08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01',
    },
    {
      name: 'get-header-value-trim',
      method: 'GET',
      path: '/',
      headers: [
        ['My-Header1', 'value1'],
        ['My-Header2', '"a   b   c"'],
      ],
      query: [],
      sig: 'acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736',
    },
    {
      name: 'post-vanilla',
      method: 'POST',
      path: '/',
      headers: [],
      query: [],
      sig: '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b',
    },
    {
      name: 'post-vanilla-query',
      method: 'POST',
      path: '/',
      headers: [],
      query: [['Param1', 'value1']],
      sig: '28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11',
    },
    {
      name: 'post-vanilla-query-nonunreserved',
      method: 'POST',
      path: '/',
      headers: [],
      query: [['@#$%^&+', '/,?><`";:\\|][{}']],
      sig: '88d3e39e4fa54b971f51c0a09140368e1a51aafb76c4652d9998f93cf3038074',
    },
    {
      name: 'post-header-value-case',
      method: 'POST',
      path: '/',
      headers: [['My-Header1', 'VALUE1']],
      query: [],
      sig: 'cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d',
    },
    {
      name: 'post-sts-header-before',
      method: 'POST',
      path: '/',
      headers: [
        [
          'X-Amz-Security-Token',
          'AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==',
        ],
      ],
      query: [],
      sig: '85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead',
    },
  ] as {
    name: string;
    normalisedPath?: boolean;
    method: string;
    path: string;
    headers: [string, string][];
    query: [string, string][];
    sig: string;
  }[])('$name', ({ normalisedPath, method, path, headers, query, sig }) => {
    const req = vectorRequest(method, path, headers, query);
    const signedHeaders = Object.keys(req.headers).sort();
    expect(computeSignature(req, { ...SCOPE, signedHeaders }, AMZ_DATE, SECRET)).toBe(sig);
    // And the verifier accepts the same request carrying that signature — except a path SigV4
    // normalises (., .., empty segments), which the router would read differently: that is refused
    // before anything else, so a signature cannot be replayed against another path.
    req.headers.authorization = [
      `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=${signedHeaders.join(';')}, Signature=${sig}`,
    ];
    const now = Date.UTC(2015, 7, 30, 12, 36, 0);
    const verify = (): string =>
      verifySigV4(req, { secretOf: () => SECRET, now, maxSkewMs: 300_000, service: 'service' });
    if (normalisedPath) expect(verify).toThrow(/SigV4 normalises/);
    else expect(verify()).toBe('AKIDEXAMPLE');
  });

  it('builds the canonical request of get-vanilla exactly', () => {
    const req = vectorRequest('GET', '/', []);
    expect(canonicalRequest(req, ['host', 'x-amz-date'], EMPTY_SHA)).toBe(
      `GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:${AMZ_DATE}\n\nhost;x-amz-date\n${EMPTY_SHA}`,
    );
  });

  it.each([
    {
      name: 'percent-encoded colon is encoded again (non-S3)',
      path: '/2015-03-31/functions/my-fn%3Aprod/invocations',
      want: '/2015-03-31/functions/my-fn%253Aprod/invocations',
    },
    {
      name: 'plain path unchanged',
      path: '/2015-03-31/functions/hello/invocations',
      want: '/2015-03-31/functions/hello/invocations',
    },
    { name: 'dollar sign encoded', path: '/a/$LATEST', want: '/a/%24LATEST' },
  ])('canonicalUri: $name', ({ path, want }) => {
    expect(canonicalUri(path)).toBe(want);
  });

  it.each([
    { name: 'sorted by name', q: 'b=2&a=1', want: 'a=1&b=2' },
    { name: 'value without =', q: 'a', want: 'a=' },
    { name: 'decoded then strictly encoded', q: 'Qualifier=%24LATEST', want: 'Qualifier=%24LATEST' },
    { name: 'literal $ is encoded', q: 'Qualifier=$LATEST', want: 'Qualifier=%24LATEST' },
  ])('canonicalQuery: $name', ({ q, want }) => {
    expect(canonicalQuery(q)).toBe(want);
  });
});

/** Signs an InvokeCommand with the real SDK and returns the request as the gateway would see it. */
async function sdkSigned(opts: {
  functionName: string;
  qualifier?: string;
  payload: string;
  secret: string;
  systemClockOffset?: number;
  sessionToken?: string;
  input?: Partial<InvokeCommandInput>;
}): Promise<SignedRequest> {
  let captured: SignedRequest | undefined;
  const client = new LambdaClient({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:8080',
    credentials: {
      accessKeyId: 'AKIDSLUICE',
      secretAccessKey: opts.secret,
      ...(opts.sessionToken ? { sessionToken: opts.sessionToken } : {}),
    },
    maxAttempts: 1,
    ...(opts.systemClockOffset ? { systemClockOffset: opts.systemClockOffset } : {}),
    requestHandler: {
      handle: (req: {
        method: string;
        path: string;
        query?: Record<string, string>;
        headers: Record<string, string>;
        body?: unknown;
      }) => {
        const query = Object.entries(req.query ?? {})
          .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
          .join('&');
        const headers: Record<string, string[]> = {};
        for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = [v];
        const body =
          req.body instanceof Uint8Array
            ? Buffer.from(req.body)
            : Buffer.from(typeof req.body === 'string' ? req.body : '');
        captured = { method: req.method, path: req.path, query, headers, body };
        return Promise.reject(new Error('captured'));
      },
    } as never,
  });
  await expect(
    client.send(
      new InvokeCommand({
        FunctionName: opts.functionName,
        ...(opts.qualifier ? { Qualifier: opts.qualifier } : {}),
        Payload: Buffer.from(opts.payload),
        ...opts.input,
      }),
    ),
  ).rejects.toThrow('captured');
  client.destroy();
  return captured as SignedRequest;
}

describe('SigV4: round trip with @aws-sdk/client-lambda', () => {
  const verify = (req: SignedRequest, now = Date.now()): string =>
    verifySigV4(req, {
      secretOf: (id) => (id === 'AKIDSLUICE' ? 'right-secret' : undefined),
      now,
      maxSkewMs: 300_000,
      service: 'lambda',
    });

  it.each([
    { name: 'bare name', functionName: 'hello', qualifier: undefined },
    { name: 'name:alias (percent-encoded colon)', functionName: 'hello:prod', qualifier: undefined },
    { name: 'Qualifier parameter', functionName: 'hello', qualifier: '$LATEST' },
    {
      name: 'full ARN',
      functionName: 'arn:aws:lambda:us-east-1:shop:function:resize:7',
      qualifier: undefined,
    },
  ])('verifies an SDK-signed Invoke: $name', async ({ functionName, qualifier }) => {
    const req = await sdkSigned({
      functionName,
      ...(qualifier ? { qualifier } : {}),
      payload: '{"a":1}',
      secret: 'right-secret',
    });
    expect(parseAuthorization(req.headers.authorization?.[0] ?? '').service).toBe('lambda');
    expect(verify(req)).toBe('AKIDSLUICE');
  });

  it.each([
    {
      name: 'wrong secret',
      mutate: async () => sdkSigned({ functionName: 'hello', payload: '{}', secret: 'wrong-secret' }),
      err: InvalidSignatureError,
      msg: /does not match/,
    },
    {
      name: 'altered body',
      mutate: async () => ({
        ...(await sdkSigned({ functionName: 'hello', payload: '{"amount":1}', secret: 'right-secret' })),
        body: Buffer.from('{"amount":9}'),
      }),
      err: InvalidSignatureError,
      msg: /does not match/,
    },
    {
      name: 'altered path',
      mutate: async () => ({
        ...(await sdkSigned({ functionName: 'hello', payload: '{}', secret: 'right-secret' })),
        path: '/2015-03-31/functions/other/invocations',
      }),
      err: InvalidSignatureError,
      msg: /does not match/,
    },
    {
      name: 'altered query',
      mutate: async () => ({
        ...(await sdkSigned({
          functionName: 'hello',
          qualifier: '1',
          payload: '{}',
          secret: 'right-secret',
        })),
        query: 'Qualifier=2',
      }),
      err: InvalidSignatureError,
      msg: /does not match/,
    },
    {
      name: 'stale date (signed 20 minutes ago)',
      mutate: async () =>
        sdkSigned({
          functionName: 'hello',
          payload: '{}',
          secret: 'right-secret',
          systemClockOffset: -20 * 60_000,
        }),
      err: InvalidSignatureError,
      msg: /expired/,
    },
    {
      name: 'unknown access key',
      mutate: async () => {
        const r = await sdkSigned({ functionName: 'hello', payload: '{}', secret: 'right-secret' });
        r.headers.authorization = [(r.headers.authorization?.[0] ?? '').replace('AKIDSLUICE', 'AKIDOTHER')];
        return r;
      },
      err: UnrecognizedClientError,
      msg: /invalid/,
    },
  ])('rejects $name with 403', async ({ mutate, err, msg }) => {
    const req = await mutate();
    expect(() => verify(req)).toThrow(err);
    expect(() => verify(req)).toThrow(msg);
  });
});

describe('SigV4: what a signature must cover', () => {
  it.each([
    { path: '/', ok: true },
    { path: '/2015-03-31/functions/hello/invocations', ok: true },
    { path: '/url/shop/web/', ok: true },
    { path: '/url/shop/web/a%2F..%2Fb', ok: true },
    { path: '/url/shop/web/a/../b', ok: false },
    { path: '/url/shop/./web', ok: false },
    { path: '/url/shop//web', ok: false },
    { path: '//url/shop/web', ok: false },
    { path: '/url/shop/web//', ok: false },
    { path: '/2015-03-31/functions/other/../hello/invocations', ok: false },
  ])('path $path → $ok', ({ path, ok }) => {
    if (ok) expect(() => assertCanonicalPath(path)).not.toThrow();
    else expect(() => assertCanonicalPath(path)).toThrow(InvalidSignatureError);
  });

  const opts = {
    secretOf: (id: string) => (id === 'AKIDSLUICE' ? 'right-secret' : undefined),
    now: Date.now(),
    maxSkewMs: 300_000,
    service: 'lambda',
  };

  it.each([
    { name: 'X-Amz-Invocation-Type', header: 'x-amz-invocation-type', value: 'Event' },
    { name: 'X-Amz-Log-Type', header: 'x-amz-log-type', value: 'Tail' },
    { name: 'X-Amz-Client-Context', header: 'x-amz-client-context', value: 'e30=' },
    { name: 'X-Amz-Security-Token', header: 'x-amz-security-token', value: 'token' },
    { name: 'Idempotency-Key', header: 'idempotency-key', value: 'k1' },
  ])('rejects an unsigned $name added to a signed request, naming it', async ({ header, value }) => {
    const req = await sdkSigned({ functionName: 'hello', payload: '{}', secret: 'right-secret' });
    req.headers[header] = [value];
    expect(() => checkSigV4Head(req, opts)).toThrow(InvalidSignatureError);
    expect(() => checkSigV4Head(req, opts)).toThrow(`'${header}' must be a signed header`);
  });

  it('checks the head without the body: the date window and the key come before any body', async () => {
    const stale = await sdkSigned({
      functionName: 'hello',
      payload: '{}',
      secret: 'right-secret',
      systemClockOffset: -20 * 60_000,
    });
    const { body: _body, ...head } = stale;
    expect(() => checkSigV4Head(head, opts)).toThrow(/expired/);
    const fresh = await sdkSigned({ functionName: 'hello', payload: '{}', secret: 'right-secret' });
    const { body: _b, ...unknownKey } = fresh;
    unknownKey.headers = {
      ...unknownKey.headers,
      authorization: [(unknownKey.headers.authorization?.[0] ?? '').replace('AKIDSLUICE', 'AKIDOTHER')],
    };
    expect(() => checkSigV4Head(unknownKey, opts)).toThrow(UnrecognizedClientError);
  });

  it.each([
    { name: 'Event', input: { InvocationType: 'Event' as const }, header: 'x-amz-invocation-type' },
    { name: 'Tail logs', input: { LogType: 'Tail' as const }, header: 'x-amz-log-type' },
    {
      name: 'a client context',
      input: { ClientContext: Buffer.from('{"custom":{}}').toString('base64') },
      header: 'x-amz-client-context',
    },
    { name: 'DryRun', input: { InvocationType: 'DryRun' as const }, header: 'x-amz-invocation-type' },
  ])(
    '@aws-sdk/client-lambda signs every x-amz-* header it sends: $name, with a session token',
    async ({ input, header }) => {
      const req = await sdkSigned({
        functionName: 'shop:function:hello',
        payload: '{"a":1}',
        secret: 'right-secret',
        sessionToken: 'session-token',
        input,
      });
      const sent = Object.keys(req.headers).filter((h) => h.startsWith('x-amz-'));
      expect(sent).toEqual(
        expect.arrayContaining(['x-amz-date', 'x-amz-security-token', 'x-amz-user-agent', header]),
      );
      expect(verifySigV4(req, opts)).toBe('AKIDSLUICE');
    },
  );
});
