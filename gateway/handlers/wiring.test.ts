import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { AsyncBacklogFullError, AsyncPayloadTooLargeError } from '../async/errors.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { AccessReviewer, ResourceAttributes } from '../auth/kube-rbac.js';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import type { SignedRequest } from '../auth/sigv4.js';
import { MemoryCatalog } from '../catalog/catalog.js';
import { buildGateway, DEFAULT_SETTINGS, type Gateway } from '../gateway.js';
import type { AsyncInvocation, AsyncQueue } from '../invoke/async-queue.js';
import { InflightCounter } from '../invoke/inflight.js';
import type { PodClient, PodRequest, PodResponse } from '../invoke/pod-client.js';
import { StaticPeers } from '../limits/limiter.js';
import { EndpointTable, workloadKey } from '../routing/router.js';
import {
  FakeScaler,
  fnResource,
  ListPublishAuthorizer,
  MemoryVersionStore,
  silentLogger,
} from '../../test/support/gateway/fakes.js';
import { LambdaError, UnrecognizedClientError } from '../errors.js';
import { until } from '../../test/support/time.js';
import { makeDeadLetterAuthorizer, type DeadLetterStore } from './dead-letters.js';

const POLLER = 'serviceaccount:sluice-system:sluice-poller';

/** Bearer tokens are principals in the clear: `Bearer serviceaccount:NS:NAME`. */
class TokenIsPrincipal implements Authenticator {
  authenticate(req: SignedRequest): Promise<Principal> {
    const h = req.headers.authorization?.[0];
    if (!h) return Promise.resolve(ANONYMOUS);
    const m = /^Bearer serviceaccount:([^:]+):(.+)$/.exec(h);
    if (!m) return Promise.reject(new UnrecognizedClientError('bad token'));
    return Promise.resolve({ kind: 'serviceaccount', namespace: m[1] as string, name: m[2] as string });
  }
}

/** A pod whose calls stay open until `release()`. */
class GatedPods implements PodClient {
  private waiting: (() => void)[] = [];
  calls = 0;
  invoke(_address: string, req: PodRequest): Promise<PodResponse> {
    this.calls++;
    return new Promise((resolve) => {
      this.waiting.push(() => resolve({ status: 200, headers: {}, body: req.body }));
    });
  }
  release(): void {
    for (const w of this.waiting.splice(0)) w();
  }
  get open(): number {
    return this.waiting.length;
  }
}

/** A dead-letter queue with nothing in it. */
class EmptyDeadLetters implements DeadLetterStore {
  list(): ReturnType<DeadLetterStore['list']> {
    return Promise.resolve({ items: [], total: 0 });
  }
  get(): ReturnType<DeadLetterStore['get']> {
    return Promise.reject(new Error('no dead letter'));
  }
  redrive(): ReturnType<DeadLetterStore['redrive']> {
    return Promise.resolve({ redriven: [], failed: [] });
  }
  purge(): ReturnType<DeadLetterStore['purge']> {
    return Promise.resolve(0);
  }
  delete(): ReturnType<DeadLetterStore['delete']> {
    return Promise.resolve();
  }
}

class RecordingQueue implements AsyncQueue {
  events: AsyncInvocation[] = [];
  fail: Error | undefined;
  enqueue(inv: AsyncInvocation): Promise<{ requestId: string }> {
    if (this.fail) return Promise.reject(this.fail);
    this.events.push(inv);
    return Promise.resolve({ requestId: `event-${this.events.length}` });
  }
}

interface Harness {
  gateway: Gateway;
  base: string;
  pods: GatedPods;
  queue: RecordingQueue;
  table: EndpointTable;
  reviews: ResourceAttributes[];
}

const running: Harness[] = [];
afterEach(async () => {
  for (const h of running.splice(0)) {
    h.pods.release();
    h.gateway.server.closeAllConnections();
    await new Promise<void>((r) => h.gateway.server.close(() => r()));
  }
});

async function start(opts: { async?: boolean; dlqReady?: boolean } = {}): Promise<Harness> {
  const catalog = new MemoryCatalog([
    fnResource('warm', { scaling: { concurrencyPerPod: 4 } }, 'shop'),
    fnResource('cold', {}, 'shop'),
    fnResource('locked', { invokePolicy: [{ principal: 'serviceaccount:shop:checkout' }] }, 'shop'),
  ]);
  const table = new EndpointTable();
  table.set(workloadKey('shop', 'warm', '$LATEST'), ['10.0.0.1:8080']);
  table.set(workloadKey('shop', 'locked', '$LATEST'), ['10.0.0.3:8080']);
  const scaler = new FakeScaler(table, () => ['10.0.0.2:8080'], 300);
  const pods = new GatedPods();
  const queue = new RecordingQueue();
  const auth = new TokenIsPrincipal();
  const reviews: ResourceAttributes[] = [];
  const rbac: AccessReviewer = {
    allowed: (p, attrs) => {
      reviews.push(attrs);
      return Promise.resolve(p.kind === 'serviceaccount' && p.name === 'admin');
    },
  };
  const dlq = {
    dlq: () => {
      if (opts.dlqReady === false)
        throw new LambdaError(503, 'ServiceException', 'not connected to NATS yet');
      return new EmptyDeadLetters();
    },
    authorize: makeDeadLetterAuthorizer({ auth, rbac }),
  };
  const gateway = buildGateway(
    {
      catalog,
      router: table,
      scaler,
      peers: new StaticPeers(),
      auth,
      pods,
      versions: new MemoryVersionStore(),
      publishAuthorizer: new ListPublishAuthorizer(() => false),
      ...(opts.async === false ? {} : { asyncQueue: queue, deadLetters: dlq }),
      platformPrincipals: new Set([POLLER]),
      registry: new Registry(),
      tracer: trace.getTracer('test'),
      log: silentLogger(),
    },
    { ...DEFAULT_SETTINGS, defaultNamespace: 'shop', region: 'us-east-1', activationPollMs: 20 },
  );
  await new Promise<void>((r) => gateway.server.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}`;
  const h = { gateway, base, pods, queue, table, reviews };
  running.push(h);
  return h;
}

const bearer = (principal: string): Record<string, string> => ({ authorization: `Bearer ${principal}` });

describe('InflightCounter', () => {
  it('counts per version and forgets versions with nothing in flight', () => {
    const c = new InflightCounter();
    const a = c.enter('shop', 'f', '$LATEST');
    const b = c.enter('shop', 'f', '$LATEST');
    const v = c.enter('shop', 'f', '2');
    expect(c.snapshot()).toEqual([
      { namespace: 'shop', function: 'f', version: '$LATEST', inflight: 2 },
      { namespace: 'shop', function: 'f', version: '2', inflight: 1 },
    ]);
    a();
    a(); // leaving twice counts once
    v();
    expect(c.snapshot()).toEqual([{ namespace: 'shop', function: 'f', version: '$LATEST', inflight: 1 }]);
    b();
    expect(c.snapshot()).toEqual([]);
  });
});

describe('GET /internal/v1/inflight', () => {
  it('reports calls running on pods and calls held for a cold start, per version', async () => {
    const h = await start();
    const call = (fn: string): Promise<Response> =>
      fetch(`${h.base}/2015-03-31/functions/${fn}/invocations`, {
        method: 'POST',
        body: '{}',
        headers: bearer('serviceaccount:shop:app'),
      });
    const calls = [call('warm'), call('warm'), call('cold')];
    await until(() => h.pods.open === 2, 'two calls on the warm pod');
    const res = await fetch(`${h.base}/internal/v1/inflight`, { headers: bearer(POLLER) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      functions: [
        { namespace: 'shop', function: 'cold', version: '$LATEST', inflight: 1 },
        { namespace: 'shop', function: 'warm', version: '$LATEST', inflight: 2 },
      ],
    });
    await until(() => h.pods.open === 3, 'the cold call on its new pod');
    h.pods.release();
    for (const r of await Promise.all(calls)) expect(r.status).toBe(200);
    const after = await fetch(`${h.base}/internal/v1/inflight`, { headers: bearer(POLLER) });
    expect(await after.json()).toEqual({ functions: [] });
  });

  it.each([
    { name: 'anonymous', headers: {}, status: 403, code: 'AccessDeniedException' },
    {
      name: 'a service account that is not a platform principal',
      headers: bearer('serviceaccount:shop:app'),
      status: 403,
      code: 'AccessDeniedException',
    },
    {
      name: 'a bad token',
      headers: { authorization: 'Bearer nope' },
      status: 403,
      code: 'UnrecognizedClientException',
    },
  ])('refuses $name', async ({ headers, status, code }) => {
    const h = await start();
    const res = await fetch(`${h.base}/internal/v1/inflight`, { headers });
    expect(res.status).toBe(status);
    expect(res.headers.get('x-amzn-errortype')).toBe(code);
  });
});

describe('platform principals', () => {
  it.each([
    { name: 'the poller invokes a function whose policy does not list it', who: POLLER, status: 200 },
    { name: 'the listed caller', who: 'serviceaccount:shop:checkout', status: 200 },
    { name: 'another service account of the namespace', who: 'serviceaccount:shop:app', status: 403 },
  ])('$name → $status', async ({ who, status }) => {
    const h = await start();
    // The poller names the account (NAMESPACE:function:NAME); a bare name would be its own namespace's.
    const pending = fetch(`${h.base}/2015-03-31/functions/shop:function:locked/invocations`, {
      method: 'POST',
      body: '{"x":1}',
      headers: bearer(who),
    });
    if (status === 200) {
      await until(() => h.pods.open === 1, 'the call on the pod');
      h.pods.release();
    }
    const res = await pending;
    expect(res.status).toBe(status);
  });
});

describe('asynchronous invocation', () => {
  const url = (h: Harness, path: string): string => `${h.base}${path}`;

  it('answers Event with 202 and the request id the queue reports', async () => {
    const h = await start();
    const res = await fetch(url(h, '/2015-03-31/functions/warm/invocations'), {
      method: 'POST',
      body: '{"n":1}',
      headers: {
        ...bearer('serviceaccount:shop:app'),
        'x-amz-invocation-type': 'Event',
        'idempotency-key': 'k1',
      },
    });
    expect(res.status).toBe(202);
    expect(res.headers.get('x-amzn-requestid')).toBe('event-1');
    expect(res.headers.get('x-amz-executed-version')).toBeNull();
    expect(h.queue.events).toHaveLength(1);
    expect(h.queue.events[0]).toMatchObject({
      idempotencyKey: 'k1',
      caller: 'serviceaccount:shop:app',
      target: { namespace: 'shop', function: 'warm' },
    });
    expect(h.queue.events[0]?.payload.toString()).toBe('{"n":1}');
  });

  it("maps the pipeline's AsyncPayloadTooLargeError to 413 RequestTooLargeException with its limit", async () => {
    const h = await start();
    h.queue.fail = new AsyncPayloadTooLargeError(1000, 1200);
    const res = await fetch(url(h, '/2015-03-31/functions/warm/invocations'), {
      method: 'POST',
      body: '{"n":1}',
      headers: { ...bearer('serviceaccount:shop:app'), 'x-amz-invocation-type': 'Event' },
    });
    expect(res.status).toBe(413);
    expect(res.headers.get('x-amzn-errortype')).toBe('RequestTooLargeException');
    expect(((await res.json()) as { message: string }).message).toContain('1000 bytes');
  });

  it("maps the pipeline's AsyncBacklogFullError to 429 TooManyRequestsException, which the SDK retries", async () => {
    const h = await start();
    h.queue.fail = new AsyncBacklogFullError('shop', 'warm', 10_000);
    const res = await fetch(url(h, '/2015-03-31/functions/warm/invocations'), {
      method: 'POST',
      body: '{"n":1}',
      headers: { ...bearer('serviceaccount:shop:app'), 'x-amz-invocation-type': 'Event' },
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('x-amzn-errortype')).toBe('TooManyRequestsException');
    expect(res.headers.get('retry-after')).toBe('1');
    const body = (await res.json()) as { Reason: string; message: string };
    expect(body.Reason).toBe('AsyncBacklogLimitExceeded');
    expect(body.message).toContain('10000');
  });

  it.each([
    {
      name: 'a function URL with X-Amz-Invocation-Type: Event is queued (202)',
      headers: { 'x-amz-invocation-type': 'Event' },
      body: 'a=1',
      status: 202,
    },
    {
      name: 'over 1 MB is refused (413)',
      headers: { 'x-amz-invocation-type': 'Event' },
      body: 'x'.repeat(1024 * 1024),
      status: 413,
    },
    {
      name: 'an unknown invocation type is refused (400)',
      headers: { 'x-amz-invocation-type': 'DryRun' },
      body: '',
      status: 400,
    },
  ])('$name', async ({ headers, body, status }) => {
    const h = await start();
    const res = await fetch(url(h, '/url/shop/warm/orders?id=7'), {
      method: 'POST',
      body,
      headers: { ...bearer('serviceaccount:shop:app'), 'content-type': 'text/plain', ...headers },
    });
    expect(res.status).toBe(status);
    if (status !== 202) return;
    expect(res.headers.get('x-amzn-requestid')).toBe('event-1');
    const event = JSON.parse(h.queue.events[0]?.payload.toString() ?? '{}') as Record<string, unknown>;
    expect(event).toMatchObject({ version: '2.0', rawPath: '/orders', rawQueryString: 'id=7', body: 'a=1' });
    expect(h.pods.calls).toBe(0);
  });

  it('answers Event with 501 on a gateway without a queue', async () => {
    const h = await start({ async: false });
    const res = await fetch(url(h, '/url/shop/warm'), {
      method: 'POST',
      headers: { ...bearer('serviceaccount:shop:app'), 'x-amz-invocation-type': 'Event' },
    });
    expect(res.status).toBe(501);
    const dl = await fetch(url(h, '/sluice/v1/namespaces/shop/functions/warm/dead-letters'));
    expect(dl.status).toBe(404);
  });
});

describe('drain', () => {
  /** One call over a keep-alive agent: its status and Connection header. */
  const call = (h: Harness, agent: Agent): Promise<{ status: number; connection: string | undefined }> =>
    new Promise((resolve, reject) => {
      const req = request(
        `${h.base}/2015-03-31/functions/warm/invocations`,
        {
          method: 'POST',
          agent,
          headers: { ...bearer('serviceaccount:shop:app'), 'x-amz-invocation-type': 'Event' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
        },
      );
      req.on('error', reject);
      req.end('{}');
    });

  it('keeps serving while draining, and each answer closes its connection (readiness off first)', async () => {
    const h = await start();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect(await call(h, agent)).toEqual({ status: 202, connection: 'keep-alive' });
      h.gateway.drain();
      expect((await fetch(`${h.base}/readyz`)).status).toBe(503);
      // The idle keep-alive connection is used once more, answered, and closed by the gateway.
      expect(await call(h, agent)).toEqual({ status: 202, connection: 'close' });
      expect(await call(h, agent)).toEqual({ status: 202, connection: 'close' });
      expect(h.queue.events).toHaveLength(3);
    } finally {
      agent.destroy();
    }
  });
});

describe('dead-letters API', () => {
  it.each([
    { name: 'a caller with RBAC update on the function', who: 'serviceaccount:ops:admin', status: 200 },
    { name: 'a caller without it', who: 'serviceaccount:shop:app', status: 403 },
    { name: 'anonymous', who: '', status: 403 },
  ])('$name → $status', async ({ who, status }) => {
    const h = await start();
    const res = await fetch(`${h.base}/sluice/v1/namespaces/shop/functions/warm/dead-letters`, {
      headers: who ? bearer(who) : {},
    });
    expect(res.status).toBe(status);
    expect(h.reviews).toEqual([
      { namespace: 'shop', verb: 'update', group: 'sluice.dev', resource: 'functions', name: 'warm' },
    ]);
  });

  it.each([
    { name: 'list', method: 'GET', path: '' },
    { name: 'inspect', method: 'GET', path: '/7' },
    { name: 'redrive', method: 'POST', path: '/redrive' },
    { name: 'purge', method: 'DELETE', path: '' },
    { name: 'remove', method: 'DELETE', path: '/7' },
  ])(
    '$name answers 503 while the async pipeline is not running, before any authorization',
    async ({ method, path }) => {
      const h = await start({ dlqReady: false });
      const res = await fetch(`${h.base}/sluice/v1/namespaces/shop/functions/warm/dead-letters${path}`, {
        method,
        headers: bearer('serviceaccount:ops:admin'),
      });
      expect(res.status).toBe(503);
      expect(h.reviews).toEqual([]);
    },
  );
});
