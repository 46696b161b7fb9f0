import { startHttpRecorder, type HttpRecorder } from '../../test/support/http-recorder.js';
import { recordingTenants as recordingJs } from '../../test/support/recording-tenants.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resolver } from '../../api/destinations.js';
import { silentLogger } from '../../test/support/gateway/fakes.js';
import type { EventAcceptor } from './accept.js';
import { Destinations, type DeliveryContext } from './destinations.js';
import { DestinationDeliveryError } from './errors.js';

const ctx: DeliveryContext = {
  namespace: 'shop',
  function: 'orders',
  requestId: 'r1',
  condition: 'Success',
  deliveryId: 'd1',
};

describe('Destinations: the destination contract at delivery', () => {
  let http: HttpRecorder;
  let port = 0;
  let paths: string[] = [];
  beforeAll(async () => {
    http = await startHttpRecorder((path) => (path === '/moved' ? 307 : 204));
    ({ port, paths } = http);
  });
  afterAll(() => http.close());

  const make = (resolve: Resolver, allowLoopback = false): { d: Destinations; subjects: string[] } => {
    const { js, subjects } = recordingJs();
    const d = new Destinations({
      tenants: js,
      acceptor: {} as EventAcceptor,
      functionExists: () => true,
      reservedPrefix: 'sluice',
      policy: { attempts: 4, backoffMs: 1, httpTimeoutMs: 2000, natsTimeoutMs: 1000 },
      ...(allowLoopback ? { addresses: { blocked: () => undefined } } : {}),
      resolve,
      log: silentLogger(),
      sleep: () => Promise.resolve(),
    });
    return { d, subjects };
  };

  it('refuses a host that resolves to a private address, once, without a retry or a request', async () => {
    paths.length = 0;
    const lookups: string[] = [];
    const { d } = make((h) => {
      lookups.push(h);
      return Promise.resolve([{ address: '10.0.0.5', family: 4 }]);
    });
    const err = await d
      .deliver(`http://hooks.example.com:${port}/in`, Buffer.from('{}'), ctx)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DestinationDeliveryError);
    expect((err as Error).message).toMatch(/10.0.0.5 is a private address/);
    expect(lookups).toEqual(['hooks.example.com']);
    expect(paths).toEqual([]);
  });

  it('refuses a loopback literal without any lookup', async () => {
    const lookups: string[] = [];
    const { d } = make((h) => {
      lookups.push(h);
      return Promise.resolve([]);
    });
    await expect(d.deliver(`http://127.0.0.1:${port}/in`, Buffer.from('{}'), ctx)).rejects.toThrow(
      /loopback/,
    );
    expect(lookups).toEqual([]);
  });

  it('does not follow a redirect: the delivery fails for good', async () => {
    paths.length = 0;
    const { d } = make(() => Promise.resolve([{ address: '127.0.0.1', family: 4 }]), true);
    await expect(d.deliver(`http://hooks.example.com:${port}/moved`, Buffer.from('{}'), ctx)).rejects.toThrow(
      /redirects are not followed/,
    );
    expect(paths).toEqual(['/moved']);
  });

  it.each(['nats:sluice.async.shop.fn', 'nats:$JS.API.STREAM.DELETE.SLUICE_ASYNC', 'nats:orders.*'])(
    'never publishes to %s',
    async (uri) => {
      const { d, subjects } = make(() => Promise.resolve([]));
      await expect(d.deliver(uri, Buffer.from('{}'), ctx)).rejects.toThrow(DestinationDeliveryError);
      expect(subjects).toEqual([]);
    },
  );

  it('publishes to an allowed subject', async () => {
    const { d, subjects } = make(() => Promise.resolve([]));
    await d.deliver('nats:orders.done', Buffer.from('{}'), ctx);
    expect(subjects).toEqual(['orders.done']);
  });
});
