/**
 * The gateway's HTTP surface against hostile callers: the gateway's server on loopback (in
 * process, fakes for the Kubernetes-facing interfaces and for pods, which record what they get),
 * driven with raw HTTP where a client must misbehave, and with the AWS CLI and SDK where real
 * clients must keep working.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { trace } from '@opentelemetry/api';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { FunctionSpec } from '../../api/types.js';
import {
  CachedTokenReviewer,
  GatewayAuthenticator,
  MapAccessKeys,
  type TokenReviewer,
} from '../../gateway/auth/authenticator.js';
import type { Principal } from '../../gateway/auth/principal.js';
import { computeSignature } from '../../gateway/auth/sigv4.js';
import { MemoryCatalog } from '../../gateway/catalog/catalog.js';
import { buildGateway, DEFAULT_SETTINGS, type Gateway, type GatewaySettings } from '../../gateway/gateway.js';
import type { AsyncInvocation, AsyncQueue } from '../../gateway/invoke/async-queue.js';
import type { PodClient, PodRequest, PodResponse } from '../../gateway/invoke/pod-client.js';
import { StaticPeers } from '../../gateway/limits/limiter.js';
import { KeyedTokenBuckets } from '../../gateway/limits/rate.js';
import { EndpointTable, workloadKey } from '../../gateway/routing/router.js';
import {
  FakeScaler,
  fnResource,
  ListPublishAuthorizer,
  MemoryVersionStore,
  silentLogger,
} from '../support/gateway/fakes.js';
import { budget, until } from '../support/time.js';

const KEY = { id: 'AKIDHARDEN', secret: 'harden-secret' };
const CALLER: Principal = { kind: 'serviceaccount', namespace: 'shop', name: 'app' };

/** Counts TokenReviews (the API server calls) and accepts one token. */
class CountingTokens implements TokenReviewer {
  calls = 0;
  review(token: string): Promise<Principal | undefined> {
    this.calls++;
    return Promise.resolve(token === 'good-token' ? CALLER : undefined);
  }
}

/** Pods that answer from a per-function script and record what they were sent. */
class ScriptedPods implements PodClient {
  readonly calls: { address: string; req: PodRequest }[] = [];
  constructor(private readonly answers: Record<string, () => unknown>) {}
  invoke(address: string, req: PodRequest): Promise<PodResponse> {
    this.calls.push({ address, req });
    const answer = this.answers[address];
    const body = answer ? Buffer.from(JSON.stringify(answer())) : req.body;
    return Promise.resolve({ status: 200, headers: {}, body });
  }
}

class RecordingQueue implements AsyncQueue {
  readonly events: AsyncInvocation[] = [];
  enqueue(inv: AsyncInvocation): Promise<{ requestId: string }> {
    this.events.push(inv);
    return Promise.resolve({ requestId: `event-${this.events.length}` });
  }
}

interface Harness {
  gateway: Gateway;
  port: number;
  base: string;
  pods: ScriptedPods;
  tokens: CountingTokens;
  queue: RecordingQueue;
  registry: Registry;
}

const running: Harness[] = [];
afterEach(async () => {
  for (const h of running.splice(0)) {
    h.gateway.server.closeAllConnections();
    await new Promise<void>((r) => h.gateway.server.close(() => r()));
  }
});

const FUNCTIONS: [string, Partial<FunctionSpec>][] = [
  ['echo', {}],
  ['web', { invokePolicy: [{ principal: '*' }] }],
  ['page', { invokePolicy: [{ principal: '*' }] }],
  ['private', { invokePolicy: [{ principal: 'serviceaccount:ops:deployer' }] }],
];

async function start(
  o: {
    settings?: Partial<GatewaySettings>;
    answers?: Record<string, () => unknown>;
    failures?: KeyedTokenBuckets;
  } = {},
): Promise<Harness> {
  const catalog = new MemoryCatalog([
    ...FUNCTIONS.map(([name, spec]) => fnResource(name, spec, 'shop')),
    // Another tenant's public function.
    fnResource('secret', { invokePolicy: [{ principal: '*' }] }, 'vault'),
  ]);
  const table = new EndpointTable();
  for (const [name] of FUNCTIONS) table.set(workloadKey('shop', name, '$LATEST'), [`${name}:8080`]);
  table.set(workloadKey('vault', 'secret', '$LATEST'), ['secret:8080']);
  const pods = new ScriptedPods(o.answers ?? {});
  const tokens = new CountingTokens();
  const keys = new MapAccessKeys();
  keys.set(KEY.id, { secretAccessKey: KEY.secret, principal: CALLER });
  const registry = new Registry();
  const queue = new RecordingQueue();
  const gateway = buildGateway(
    {
      catalog,
      router: table,
      scaler: new FakeScaler(table, () => [], 10),
      peers: new StaticPeers(),
      auth: new GatewayAuthenticator({
        tokens: new CachedTokenReviewer(tokens, {
          negativeTtlMs: 0,
          ...(o.failures ? { failures: o.failures } : {}),
        }),
        keys,
      }),
      pods,
      versions: new MemoryVersionStore(),
      publishAuthorizer: new ListPublishAuthorizer(() => false),
      asyncQueue: queue,
      registry,
      tracer: trace.getTracer('test'),
      log: silentLogger(),
    },
    { ...DEFAULT_SETTINGS, defaultNamespace: 'shop', region: 'us-east-1', ...o.settings },
  );
  await new Promise<void>((r) => gateway.server.listen(0, '127.0.0.1', () => r()));
  const port = (gateway.server.address() as { port: number }).port;
  const h = { gateway, port, base: `http://127.0.0.1:${port}`, pods, tokens, queue, registry };
  running.push(h);
  return h;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * Sends a request head declaring a body (Content-Length) and never sends the body: resolves with
 * the answer the gateway gives without it — or never, if the gateway waited for the body.
 */
function headOnly(
  h: Harness,
  path: string,
  headers: Record<string, string>,
  length = 1_000_000,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const r = httpRequest(
      {
        host: '127.0.0.1',
        port: h.port,
        method: 'POST',
        path,
        headers: { ...headers, 'content-length': String(length) },
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
          r.destroy();
        });
      },
    );
    r.on('error', reject);
    r.flushHeaders();
  });
}

/** SigV4 headers for a request, signed with the gateway's own (AWS-vector-tested) signer. */
function sigv4(
  h: Harness,
  method: string,
  path: string,
  body: string,
  opts: { key?: string; secret?: string; date?: Date; extra?: Record<string, string> } = {},
): Record<string, string> {
  const date = (opts.date ?? new Date())
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const headers: Record<string, string[]> = { host: [`127.0.0.1:${h.port}`], 'x-amz-date': [date] };
  for (const [k, v] of Object.entries(opts.extra ?? {})) headers[k] = [v];
  const signedHeaders = Object.keys(headers).sort();
  const sig = computeSignature(
    { method, path, query: '', headers, body: Buffer.from(body) },
    { date: date.slice(0, 8), region: 'us-east-1', service: 'lambda', signedHeaders },
    date,
    opts.secret ?? KEY.secret,
  );
  return {
    'x-amz-date': date,
    ...opts.extra,
    authorization: `AWS4-HMAC-SHA256 Credential=${opts.key ?? KEY.id}/${date.slice(0, 8)}/us-east-1/lambda/aws4_request, SignedHeaders=${signedHeaders.join(';')}, Signature=${sig}`,
  };
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = registry.getSingleMetric(name);
  const values = m ? (await m.get()).values : [];
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((sum, v) => sum + v.value, 0);
}

const INVOKE = '/2015-03-31/functions/echo/invocations';

describe('callers are authenticated before a byte of their body is read', () => {
  it.each([
    {
      name: 'an invalid bearer token',
      path: INVOKE,
      headers: (_h: Harness): Record<string, string> => ({ authorization: 'Bearer stolen' }),
      status: 403,
      code: 'UnrecognizedClientException',
    },
    {
      name: 'a SigV4 signature with an unknown key',
      path: INVOKE,
      headers: (h: Harness) => sigv4(h, 'POST', INVOKE, '{}', { key: 'AKIDNOBODY' }),
      status: 403,
      code: 'UnrecognizedClientException',
    },
    {
      name: 'a SigV4 signature outside the date window',
      path: INVOKE,
      headers: (h: Harness) => sigv4(h, 'POST', INVOKE, '{}', { date: new Date(Date.now() - 20 * 60_000) }),
      status: 403,
      code: 'InvalidSignatureException',
    },
    {
      name: 'a malformed SigV4 header',
      path: INVOKE,
      headers: (_h: Harness): Record<string, string> => ({ authorization: 'AWS4-HMAC-SHA256 Credential=x' }),
      status: 403,
      code: 'InvalidSignatureException',
    },
    {
      name: 'an anonymous caller of a private function URL',
      path: '/url/shop/private/x',
      headers: (_h: Harness): Record<string, string> => ({}),
      status: 403,
      code: 'AccessDeniedException',
    },
    {
      name: 'an anonymous caller of the Invoke API (even for a public function)',
      path: '/2015-03-31/functions/web/invocations',
      headers: (_h: Harness): Record<string, string> => ({}),
      status: 403,
      code: 'AccessDeniedException',
    },
    {
      name: 'an anonymous PublishVersion',
      path: '/2015-03-31/functions/echo/versions',
      headers: (_h: Harness): Record<string, string> => ({}),
      status: 403,
      code: 'AccessDeniedException',
    },
    {
      name: 'an authenticated caller the policy does not admit',
      path: '/2015-03-31/functions/private/invocations',
      headers: (_h: Harness): Record<string, string> => ({ authorization: 'Bearer good-token' }),
      status: 403,
      code: 'AccessDeniedException',
    },
  ])('$name is answered $status without its body', async ({ path, headers, status, code }) => {
    const h = await start();
    const r = await headOnly(h, path, headers(h));
    expect(r.status).toBe(status);
    expect(r.headers['x-amzn-errortype']).toBe(code);
    expect(h.pods.calls).toEqual([]);
  });

  it('says "100 Continue" only to a caller it admitted', async () => {
    const h = await start();
    const ask = (authorization: string): Promise<{ continued: boolean; status: number }> =>
      new Promise((resolve, reject) => {
        let continued = false;
        const r = httpRequest({
          host: '127.0.0.1',
          port: h.port,
          method: 'POST',
          path: INVOKE,
          headers: { authorization, expect: '100-continue', 'content-length': '7' },
        });
        r.on('continue', () => {
          continued = true;
          r.end('{"a":1}');
        });
        r.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve({ continued, status: res.statusCode ?? 0 }));
          if (!continued) r.destroy();
        });
        r.on('error', (e) => (continued ? reject(e) : undefined));
        r.flushHeaders();
      });
    expect(await ask('Bearer stolen')).toEqual({ continued: false, status: 403 });
    expect(await ask('Bearer good-token')).toEqual({ continued: true, status: 200 });
    expect(h.pods.calls.map((c) => c.req.body.toString())).toEqual(['{"a":1}']);
  });
});

describe('SigV4: what a signature covers', () => {
  it('refuses a signed request whose path SigV4 normalises, before routing', async () => {
    const h = await start();
    const signedFor = '/url/shop/web/b';
    const replayed = '/url/shop/web/a/../b';
    // Raw HTTP: fetch would normalise the path itself.
    const r = await new Promise<Answer>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: h.port,
          method: 'POST',
          path: replayed,
          headers: sigv4(h, 'POST', signedFor, ''),
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(r.status).toBe(403);
    expect(r.headers['x-amzn-errortype']).toBe('InvalidSignatureException');
    expect(r.body).toContain('SigV4 normalises');
    expect(h.pods.calls).toEqual([]);
    // The same signature on the path it was made for is accepted.
    const ok = await fetch(`${h.base}${signedFor}`, {
      method: 'POST',
      headers: sigv4(h, 'POST', signedFor, ''),
    });
    expect(ok.status).toBe(200);
  });

  it.each([
    { name: 'X-Amz-Invocation-Type', header: 'x-amz-invocation-type', value: 'Event' },
    { name: 'Idempotency-Key', header: 'idempotency-key', value: 'k1' },
  ])('refuses an unsigned $name added to a signed request, naming it', async ({ header, value }) => {
    const h = await start();
    const r = await fetch(`${h.base}${INVOKE}`, {
      method: 'POST',
      body: '{}',
      headers: { ...sigv4(h, 'POST', INVOKE, '{}'), [header]: value },
    });
    expect(r.status).toBe(403);
    expect(r.headers.get('x-amzn-errortype')).toBe('InvalidSignatureException');
    expect(await r.text()).toContain(`'${header}' must be a signed header`);
    expect(h.queue.events).toEqual([]);
  });

  it('accepts the same headers when they are signed', async () => {
    const h = await start();
    const r = await fetch(`${h.base}${INVOKE}`, {
      method: 'POST',
      body: '{}',
      headers: sigv4(h, 'POST', INVOKE, '{}', {
        extra: { 'x-amz-invocation-type': 'Event', 'idempotency-key': 'k1' },
      }),
    });
    expect(r.status).toBe(202);
    expect(h.queue.events).toHaveLength(1);
  });

  it('keeps @aws-sdk/client-lambda working, with a session token', async () => {
    const h = await start();
    const lambda = new LambdaClient({
      region: 'us-east-1',
      endpoint: h.base,
      credentials: { accessKeyId: KEY.id, secretAccessKey: KEY.secret, sessionToken: 'session' },
      maxAttempts: 1,
    });
    for (const input of [
      { FunctionName: 'echo', LogType: 'Tail' as const },
      { FunctionName: 'shop:function:echo', InvocationType: 'Event' as const },
      { FunctionName: 'echo', InvocationType: 'DryRun' as const },
      { FunctionName: 'echo', ClientContext: Buffer.from('{"custom":{"a":1}}').toString('base64') },
    ]) {
      const r = await lambda.send(new InvokeCommand({ ...input, Payload: Buffer.from('{"n":1}') }));
      expect([200, 202, 204]).toContain(r.StatusCode);
    }
    lambda.destroy();
  });

  it(
    'keeps the AWS CLI working (it signs every header but user-agent, expect and hop-by-hop ones)',
    async () => {
      const h = await start();
      const run = promisify(execFile);
      const env = {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        AWS_ACCESS_KEY_ID: KEY.id,
        AWS_SECRET_ACCESS_KEY: KEY.secret,
        AWS_SESSION_TOKEN: 'cli-session',
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      };
      const out = `/tmp/sluice-cli-${process.pid}.json`;
      const args = (extra: string[]): string[] => [
        'lambda',
        'invoke',
        '--endpoint-url',
        h.base,
        '--function-name',
        'shop:function:echo',
        '--payload',
        '{"cli":true}',
        ...extra,
        out,
      ];
      const sync = await run('aws', args(['--log-type', 'Tail']), { env });
      expect(JSON.parse(sync.stdout)).toMatchObject({ StatusCode: 200 });
      const event = await run('aws', args(['--invocation-type', 'Event']), { env });
      expect(JSON.parse(event.stdout)).toMatchObject({ StatusCode: 202 });
      expect(h.pods.calls.map((c) => c.req.body.toString())).toEqual(['{"cli":true}']);
      expect(h.queue.events.map((e) => e.payload.toString())).toEqual(['{"cli":true}']);
    },
    budget(60_000),
  );
});

describe('a cap on request bytes buffered at once', () => {
  it('answers 429 TooManyRequestsException beyond it, counts it, and takes calls again once bytes are released', async () => {
    const h = await start({ settings: { maxBufferedRequestBytes: 100_000 } });
    const body = `{"pad":"${'x'.repeat(79_990)}"}`;
    expect(body.length).toBe(80_000);
    // A slow client: declares 80 kB and sends half.
    const slow = httpRequest({
      host: '127.0.0.1',
      port: h.port,
      method: 'POST',
      path: INVOKE,
      headers: { authorization: 'Bearer good-token', 'content-length': String(body.length) },
    });
    const slowAnswer = new Promise<number>((resolve, reject) => {
      slow.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      slow.on('error', reject);
    });
    slow.write(body.slice(0, 40_000));
    await until(
      () =>
        h.gateway.metrics &&
        h.registry.getSingleMetric('sluice_gateway_buffered_request_bytes') !== undefined,
      'the gauge',
    );
    await until(
      async () => (await metric(h.registry, 'sluice_gateway_buffered_request_bytes', {})) === 80_000,
      'the slow body to be reserved',
    );
    const refused = await fetch(`${h.base}${INVOKE}`, {
      method: 'POST',
      body,
      headers: { authorization: 'Bearer good-token' },
    });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-amzn-errortype')).toBe('TooManyRequestsException');
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({ Reason: 'RequestBytesLimitExceeded' });
    expect(await metric(h.registry, 'sluice_gateway_shed_requests_total', { reason: 'buffer_full' })).toBe(1);
    // A small call still fits.
    const small = await fetch(`${h.base}${INVOKE}`, {
      method: 'POST',
      body: '{}',
      headers: { authorization: 'Bearer good-token' },
    });
    expect(small.status).toBe(200);
    slow.end(body.slice(40_000));
    expect(await slowAnswer).toBe(200);
    await until(
      async () => (await metric(h.registry, 'sluice_gateway_buffered_request_bytes', {})) === 0,
      'the bytes to be released',
    );
    const again = await fetch(`${h.base}${INVOKE}`, {
      method: 'POST',
      body,
      headers: { authorization: 'Bearer good-token' },
    });
    expect(again.status).toBe(200);
  });

  it('counts a body without Content-Length chunk by chunk', async () => {
    const h = await start({ settings: { maxBufferedRequestBytes: 50_000 } });
    const chunked = await new Promise<number>((resolve) => {
      const r = httpRequest(
        {
          host: '127.0.0.1',
          port: h.port,
          method: 'POST',
          path: INVOKE,
          headers: { authorization: 'Bearer good-token', 'transfer-encoding': 'chunked' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      r.on('error', () => undefined);
      r.write('{"pad":"');
      r.write('x'.repeat(60_000));
      r.end('"}');
      r.on('close', () => resolve(0));
    });
    expect(chunked).toBe(429);
    expect(await metric(h.registry, 'sluice_gateway_shed_requests_total', { reason: 'buffer_full' })).toBe(1);
  });
});

describe('a cap on concurrent connections', () => {
  it('closes connections beyond it and counts them', async () => {
    const h = await start({ settings: { limits: { ...DEFAULT_SETTINGS.limits, maxConnections: 2 } } });
    const open = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const s = connect(h.port, '127.0.0.1', () => resolve(s));
        s.on('error', reject);
      });
    const held = [await open(), await open()];
    await until(
      () => new Promise<boolean>((r) => h.gateway.server.getConnections((_e, n) => r(n === 2))),
      'two connections held',
    );
    const third = await open();
    const closed = new Promise<void>((r) => third.on('close', () => r()));
    third.on('error', () => undefined);
    third.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    let answered = '';
    third.on('data', (d: Buffer) => (answered += d.toString()));
    await closed;
    expect(answered).toBe('');
    expect(
      await metric(h.registry, 'sluice_gateway_shed_requests_total', { reason: 'max_connections' }),
    ).toBe(1);
    held[0]?.destroy();
    await until(
      () => new Promise<boolean>((r) => h.gateway.server.getConnections((_e, n) => r(n < 2))),
      'a connection to be released',
    );
    expect((await fetch(`${h.base}/healthz`)).status).toBe(200);
    held[1]?.destroy();
  });
});

describe('anonymous callers of public function URLs are rate-limited per function', () => {
  it('admits the burst, then 429, per function; authenticated callers are not limited by it', async () => {
    const h = await start({ settings: { anonymousRate: { ratePerSecond: 0.001, burst: 3 } } });
    const call = (fn: string, headers: Record<string, string> = {}): Promise<Response> =>
      fetch(`${h.base}/url/shop/${fn}/`, { headers });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await call('web')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await call('web');
    expect(limited.headers.get('x-amzn-errortype')).toBe('TooManyRequestsException');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await call('page')).status).toBe(200);
    expect((await call('web', { authorization: 'Bearer good-token' })).status).toBe(200);
    expect(await metric(h.registry, 'sluice_gateway_shed_requests_total', { reason: 'anonymous_rate' })).toBe(
      2,
    );
    expect(
      await metric(h.registry, 'sluice_throttles_total', {
        function: 'web',
        reason: 'FunctionInvocationRateLimitExceeded',
      }),
    ).toBe(2);
  });
});

describe('failed token reviews are rate-limited per client address', () => {
  it('beyond the bucket, 429 TooManyRequestsException without a TokenReview', async () => {
    const failures = new KeyedTokenBuckets({ ratePerSecond: 0.001, burst: 3 });
    const h = await start({ failures });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${h.base}${INVOKE}`, {
        method: 'POST',
        body: '{}',
        headers: { authorization: `Bearer guess-${i}` },
      });
      statuses.push(r.status);
    }
    expect(statuses).toEqual([403, 403, 403, 429, 429]);
    expect(h.tokens.calls).toBe(3);
    expect(await metric(h.registry, 'sluice_gateway_shed_requests_total', { reason: 'auth_failures' })).toBe(
      2,
    );
  });
});

describe("the caller's credentials never reach a function or a queue", () => {
  const SECRETS =
    /good-token|session-secret|AWS4-HMAC-SHA256|Signature=|X-Amz-Date|x-amz-date|x-amz-security-token|x-amz-content-sha256/i;

  it('a SigV4-signed function URL call: the event has no signing headers', async () => {
    const h = await start();
    const path = '/url/shop/web/orders';
    const headers = sigv4(h, 'POST', path, '{"o":1}', {
      extra: {
        'x-amz-security-token': 'session-secret',
        'x-amz-content-sha256': createHash('sha256').update('{"o":1}').digest('hex'),
      },
    });
    const r = await fetch(`${h.base}${path}`, {
      method: 'POST',
      body: '{"o":1}',
      headers: { ...headers, 'content-type': 'application/json' },
    });
    expect(r.status).toBe(200);
    const sent = h.pods.calls[0]?.req;
    const event = JSON.parse(sent?.body.toString() ?? '{}') as {
      headers: Record<string, string>;
      body: string;
    };
    expect(event.body).toBe('{"o":1}');
    expect(event.headers['content-type']).toBe('application/json');
    for (const name of ['authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256']) {
      expect(event.headers[name], name).toBeUndefined();
    }
    expect(sent?.body.toString()).not.toMatch(SECRETS);
    expect(JSON.stringify(sent?.headers)).not.toMatch(SECRETS);
  });

  it.each([
    { name: 'a function URL', path: '/url/shop/echo/x' },
    { name: 'the Invoke API', path: INVOKE },
  ])('an Event call through $name: the stored event carries no credentials', async ({ path }) => {
    const h = await start();
    const r = await fetch(`${h.base}${path}`, {
      method: 'POST',
      body: '{"e":1}',
      headers: {
        authorization: 'Bearer good-token',
        'x-amz-invocation-type': 'Event',
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      },
    });
    expect(r.status).toBe(202);
    const [ev] = h.queue.events;
    expect(ev?.payload.toString()).not.toMatch(SECRETS);
    expect(JSON.stringify(ev?.traceHeaders)).not.toMatch(SECRETS);
    expect(ev?.traceHeaders.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-/);
  });
});

describe('a function cannot break the framing of its function URL response', () => {
  it('framing and hop-by-hop headers are dropped: two pipelined calls get two intact answers', async () => {
    const h = await start({
      answers: {
        'page:8080': () => ({
          statusCode: 200,
          headers: {
            'content-length': '2',
            'transfer-encoding': 'chunked',
            connection: 'close',
            'x-bad': 'a\r\nset-cookie: stolen=1',
            'x-ok': 'yes',
          },
          body: 'hello world',
        }),
      },
    });
    const socket = connect(h.port, '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    const get = 'GET /url/shop/page/ HTTP/1.1\r\nHost: gw\r\n\r\n';
    socket.write(get + get);
    await until(
      () => (text.match(/hello world/g) ?? []).length === 2,
      () => `two answers, got: ${text}`,
    );
    socket.destroy();
    const answers = text.split(/(?=HTTP\/1\.1 )/);
    expect(answers).toHaveLength(2);
    for (const a of answers) {
      expect(a).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(a).toMatch(/\r\nx-ok: yes\r\n/i);
      expect(a).toMatch(/\r\ncontent-length: 11\r\n/i);
      expect(a).not.toMatch(/transfer-encoding|connection: close|stolen/i);
      expect(a.endsWith('\r\n\r\nhello world')).toBe(true);
    }
  });
});

describe("a function URL reaches only the path's namespace", () => {
  it.each([
    '/url/shop/vault%3Afunction%3Asecret',
    '/url/shop/vault:function:secret/x',
    '/url/shop/arn%3Aaws%3Alambda%3Ar%3Avault%3Afunction%3Asecret',
  ])('%s is refused (400), never run in vault', async (path) => {
    const h = await start();
    const r = await fetch(`${h.base}${path}`, { headers: { authorization: 'Bearer good-token' } });
    expect(r.status).toBe(400);
    expect(r.headers.get('x-amzn-errortype')).toBe('InvalidParameterValueException');
    expect(h.pods.calls).toEqual([]);
    // …while the function's own URL works.
    expect((await fetch(`${h.base}/url/vault/secret/x`)).status).toBe(200);
  });
});

describe('a caller refused before its body still reads the answer', () => {
  it('an expired token with a 5 MB body gets its 403 (the body is discarded, the connection kept)', async () => {
    const h = await start();
    const r = await fetch(`${h.base}${INVOKE}`, {
      method: 'POST',
      body: `{"pad":"${'x'.repeat(5 * 1024 * 1024)}"}`,
      headers: { authorization: 'Bearer expired' },
    });
    expect(r.status).toBe(403);
    expect(r.headers.get('x-amzn-errortype')).toBe('UnrecognizedClientException');
    expect(r.headers.get('connection')).not.toBe('close');
  });
});
