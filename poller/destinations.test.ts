import { startHttpRecorder, type HttpRecorder } from '../test/support/http-recorder.js';
import { recordingTenants as recordingJs } from '../test/support/recording-tenants.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DestinationError, DestinationSender } from './destinations.js';
import { FakeInvoker } from '../test/support/poller/fake-invoker.js';

const opts = { namespace: 'shop', dedupId: 'm1' };

describe('DestinationSender: the one destination contract', () => {
  let http: HttpRecorder;
  let port = 0;
  let paths: string[] = [];
  beforeAll(async () => {
    http = await startHttpRecorder((path) => (path === '/moved' ? 302 : 204));
    ({ port, paths } = http);
  });
  afterAll(() => http.close());

  it.each([
    { name: "the platform's async subjects", uri: 'nats:sluice.async.other.fn' },
    { name: "JetStream's API", uri: 'nats:$JS.API.STREAM.PURGE.SLUICE_ASYNC' },
    { name: "the poller's KV", uri: 'nats:$KV.sluice-poller.esm' },
    { name: 'a wildcard', uri: 'nats:orders.>' },
    { name: 'a function of another namespace', uri: 'function:other:function:x' },
  ])('refuses $name without publishing or invoking', async ({ uri }) => {
    const { js, subjects } = recordingJs();
    const invoker = new FakeInvoker();
    const s = new DestinationSender(js, invoker);
    await expect(s.send(uri, { a: 1 }, opts)).rejects.toThrow(DestinationError);
    expect(subjects).toEqual([]);
    expect(invoker.calls).toEqual([]);
  });

  it('invokes function destinations in the mapping’s own namespace', async () => {
    const { js } = recordingJs();
    const invoker = new FakeInvoker();
    await new DestinationSender(js, invoker).send('function:audit:prod', { a: 1 }, opts);
    expect(invoker.calls.map((c) => c.req.target)).toEqual([
      { namespace: 'shop', function: 'audit', qualifier: 'prod' },
    ]);
  });

  it('refuses a host resolving to the metadata service, sending nothing', async () => {
    paths.length = 0;
    const { js } = recordingJs();
    const s = new DestinationSender(js, new FakeInvoker(), {
      resolve: () => Promise.resolve([{ address: '169.254.169.254', family: 4 }]),
    });
    await expect(s.send(`http://hooks.example.com:${port}/in`, {}, opts)).rejects.toThrow(/link-local/);
    expect(paths).toEqual([]);
  });

  it('posts to the checked address and does not follow redirects', async () => {
    paths.length = 0;
    const { js } = recordingJs();
    const s = new DestinationSender(js, new FakeInvoker(), {
      addresses: { blocked: () => undefined },
      resolve: () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]),
    });
    await s.send(`http://hooks.example.com:${port}/in`, { a: 1 }, opts);
    await expect(s.send(`http://hooks.example.com:${port}/moved`, {}, opts)).rejects.toThrow(
      /redirects are not followed/,
    );
    expect(paths).toEqual(['/in', '/moved']);
  });
});
