/**
 * Idempotency-Key scoped to the caller, end to end: the gateway's Event calls into the real async
 * pipeline on a real nats-server (JetStream de-duplication by Nats-Msg-Id).
 */
import { trace } from '@opentelemetry/api';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeInvoker } from '../support/gateway/fake-invoker.js';
import { GatewayAuthenticator, MapAccessKeys } from '../../gateway/auth/authenticator.js';
import type { Principal } from '../../gateway/auth/principal.js';
import { MemoryCatalog } from '../../gateway/catalog/catalog.js';
import { buildGateway, DEFAULT_SETTINGS, type Gateway } from '../../gateway/gateway.js';
import { StaticPeers } from '../../gateway/limits/limiter.js';
import { EndpointTable } from '../../gateway/routing/router.js';
import {
  FakeScaler,
  fnResource,
  ListPublishAuthorizer,
  MemoryVersionStore,
  silentLogger,
} from '../support/gateway/fakes.js';
import { until } from '../support/time.js';
import { fnResource as asyncFn, startPipeline, type RunningPipeline } from './support/async-pipeline.js';
import { NatsServer } from './support/nats.js';

let server: NatsServer;
let pipeline: RunningPipeline;
let gateway: Gateway;
let base: string;
const invoker = new FakeInvoker();

const sa = (name: string): Principal => ({ kind: 'serviceaccount', namespace: 'shop', name });

beforeAll(async () => {
  server = await NatsServer.start();
  pipeline = await startPipeline(server, { id: 'idem', invoker, functions: [asyncFn('shop', 'orders')] });
  const table = new EndpointTable();
  gateway = buildGateway(
    {
      catalog: new MemoryCatalog([fnResource('orders', {}, 'shop')]),
      router: table,
      scaler: new FakeScaler(table, () => [], 10),
      peers: new StaticPeers(),
      auth: new GatewayAuthenticator({
        tokens: { review: (t) => Promise.resolve(['alice', 'mallory'].includes(t) ? sa(t) : undefined) },
        keys: new MapAccessKeys(),
      }),
      pods: { invoke: () => Promise.reject(new Error('no sync calls here')) },
      versions: new MemoryVersionStore(),
      publishAuthorizer: new ListPublishAuthorizer(() => false),
      asyncQueue: { enqueue: (inv) => pipeline.acceptor.acceptFromGateway(inv) },
      registry: new Registry(),
      tracer: trace.getTracer('test'),
      log: silentLogger(),
    },
    { ...DEFAULT_SETTINGS, defaultNamespace: 'shop', region: 'us-east-1' },
  );
  await new Promise<void>((r) => gateway.server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(gateway.server.address() as { port: number }).port}`;
}, 60_000);

afterAll(async () => {
  gateway?.server.closeAllConnections();
  await new Promise<void>((r) => (gateway ? gateway.server.close(() => r()) : r()));
  await pipeline?.close();
  await server?.cleanup();
});

async function event(token: string, key: string, n: number): Promise<string> {
  const r = await fetch(`${base}/2015-03-31/functions/orders/invocations`, {
    method: 'POST',
    body: JSON.stringify({ n }),
    headers: { authorization: `Bearer ${token}`, 'x-amz-invocation-type': 'Event', 'idempotency-key': key },
  });
  expect(r.status).toBe(202);
  return r.headers.get('x-amzn-requestid') ?? '';
}

describe('Idempotency-Key across callers', () => {
  it("two callers using one key get two events and two request ids; a retry gets its caller's", async () => {
    const alice = await event('alice', 'order-42', 1);
    const mallory = await event('mallory', 'order-42', 2);
    const aliceRetry = await event('alice', 'order-42', 3);
    expect(mallory).not.toBe(alice);
    expect(aliceRetry).toBe(alice);
    await until(
      () =>
        invoker.callsOf('shop', 'orders', alice) === 1 && invoker.callsOf('shop', 'orders', mallory) === 1,
      'both events to run',
    );
    // The retry was de-duplicated: alice's event ran once, with its first payload.
    const aliceCalls = invoker.calls.filter((c) => c.requestId === alice);
    expect(aliceCalls.map((c) => JSON.parse(c.payload.toString()))).toEqual([{ n: 1 }]);
    expect(
      invoker.calls.filter((c) => c.requestId === mallory).map((c) => JSON.parse(c.payload.toString())),
    ).toEqual([{ n: 2 }]);
  });
});
