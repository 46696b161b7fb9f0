import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AddressPolicy,
  BlockedDestinationError,
  Cidr,
  InvalidDestinationError,
  parseCidrList,
  parseDestination,
  postToDestination,
  resolveDestination,
  type AddressCheck,
  type Resolver,
} from './destinations.js';

describe('parseDestination: accepted forms', () => {
  it.each([
    { name: 'function', uri: 'function:audit', want: { kind: 'function', name: 'audit' } },
    {
      name: 'function with a version',
      uri: 'function:audit:3',
      want: { kind: 'function', name: 'audit', qualifier: '3' },
    },
    {
      name: 'function with an alias',
      uri: 'function:audit:prod',
      want: { kind: 'function', name: 'audit', qualifier: 'prod' },
    },
    {
      name: 'function $LATEST',
      uri: 'function:audit:$LATEST',
      want: { kind: 'function', name: 'audit', qualifier: '$LATEST' },
    },
    { name: 'nats subject', uri: 'nats:orders.failed', want: { kind: 'nats', subject: 'orders.failed' } },
    { name: 'nats single token', uri: 'nats:audit', want: { kind: 'nats', subject: 'audit' } },
    {
      name: 'a subject that only starts like the prefix',
      uri: 'nats:sluiceworks.x',
      want: { kind: 'nats', subject: 'sluiceworks.x' },
    },
    {
      name: 'https',
      uri: 'https://hooks.example.com/x?y=1',
      want: { kind: 'http', url: 'https://hooks.example.com/x?y=1' },
    },
    {
      name: 'http with a public IPv4 literal and a port',
      uri: 'http://203.0.113.7:8080/in',
      want: { kind: 'http', url: 'http://203.0.113.7:8080/in' },
    },
    {
      name: 'a global unicast IPv6 literal',
      uri: 'https://[2001:db8::1]/in',
      want: { kind: 'http', url: 'https://[2001:db8::1]/in' },
    },
  ])('$name', ({ uri, want }) => {
    expect(parseDestination(uri)).toEqual({ ...want, uri });
  });
});

describe('parseDestination: an installation reserves its own prefixes too', () => {
  it.each([
    { name: 'the prefix alone', uri: 'nats:acme', refused: true },
    { name: 'under the prefix', uri: 'nats:acme.async.shop.fn', refused: true },
    { name: 'a subject that only starts with the same letters', uri: 'nats:acmeworks.x', refused: false },
    { name: 'sluice. stays reserved', uri: 'nats:sluice.dlq.shop.fn', refused: true },
  ])('$name', ({ uri, refused }) => {
    const parse = (): unknown => parseDestination(uri, undefined, ['acme']);
    if (refused) expect(parse).toThrow(/reserved for the platform/);
    else expect(parse()).toEqual({ kind: 'nats', subject: uri.slice('nats:'.length), uri });
  });
});

describe('parseDestination: refused', () => {
  it.each([
    { name: 'empty', uri: '', msg: /must be function:NAME/ },
    { name: 'unknown scheme', uri: 'sqs:queue', msg: /must be function:NAME/ },
    { name: 'ftp', uri: 'ftp://host/x', msg: /must be function:NAME/ },
    { name: 'upper-case function name', uri: 'function:Audit', msg: /same namespace/ },
    { name: 'function without a name', uri: 'function:', msg: /same namespace/ },
    { name: 'a function in another namespace', uri: 'function:other:function:x', msg: /same namespace/ },
    { name: 'alias starting with a digit and letters', uri: 'function:audit:1a', msg: /same namespace/ },
    { name: 'nats wildcard *', uri: 'nats:orders.*', msg: /wildcards/ },
    { name: 'nats wildcard >', uri: 'nats:orders.>', msg: /wildcards/ },
    { name: 'nats empty token', uri: 'nats:orders..failed', msg: /tokens/ },
    { name: 'nats empty subject', uri: 'nats:', msg: /tokens/ },
    { name: "the platform's prefix", uri: 'nats:sluice.async.shop.fn', msg: /reserved/ },
    { name: "the platform's prefix alone", uri: 'nats:sluice', msg: /reserved/ },
    { name: "JetStream's API", uri: 'nats:$JS.API.STREAM.DELETE.X', msg: /reserved/ },
    { name: 'KV subjects', uri: 'nats:$KV.sluice-poller.x', msg: /reserved/ },
    { name: 'a request-reply inbox', uri: 'nats:_INBOX.abc.1', msg: /inboxes/ },
    { name: "the platform's inbox in tenant accounts", uri: 'nats:_INBOX_sluice.abc.1', msg: /inboxes/ },
    { name: 'http without a host', uri: 'http://', msg: /not a valid URL/ },
    { name: 'http with a space', uri: 'http://a b/', msg: /not a valid/ },
    { name: 'a percent-encoded host', uri: 'http://%6c%6fcalhost.example.com/', msg: /plainly/ },
    { name: 'a host a parser maps to ASCII', uri: 'http://\u24dbocalhost.example.com/', msg: /plainly/ },
    { name: 'a backslash before the host', uri: 'http://localhost\\@hooks.example.com/', msg: /plainly/ },
    { name: 'an upper-case scheme', uri: 'HTTP://hooks.example.com/', msg: /must be function:NAME/ },
  ])('$name', ({ uri, msg }) => {
    expect(() => parseDestination(uri)).toThrow(InvalidDestinationError);
    expect(() => parseDestination(uri)).toThrow(msg);
  });

  it.each([
    { name: 'localhost', uri: 'http://localhost:8080/x' },
    { name: 'localhost after a userinfo holding @', uri: 'http://x@y@localhost/x' },
    { name: 'a localhost subdomain', uri: 'http://a.localhost/x' },
    { name: 'a Service name', uri: 'http://receiver.shop.svc/x' },
    { name: 'a Service FQDN', uri: 'http://receiver.shop.svc.cluster.local./x' },
    { name: 'upper case', uri: 'http://RECEIVER.SHOP.SVC.CLUSTER.LOCAL/x' },
    { name: '*.internal', uri: 'http://metadata.google.internal/computeMetadata/v1/' },
    { name: 'a single-label name (search domains would make it a Service)', uri: 'http://sluice-nats:8222/' },
    { name: 'loopback', uri: 'http://127.0.0.1/x' },
    { name: 'loopback, decimal form', uri: 'http://2130706433/x' },
    { name: 'loopback, short form', uri: 'http://127.1/x' },
    { name: 'loopback, hex form', uri: 'http://0x7f.0.0.1/x' },
    { name: 'cloud metadata', uri: 'http://169.254.169.254/latest/meta-data/' },
    { name: 'private 10/8', uri: 'http://10.96.0.1/x' },
    { name: 'private 172.16/12', uri: 'https://172.20.1.1/x' },
    { name: 'private 192.168/16', uri: 'http://192.168.1.1/x' },
    { name: 'shared 100.64/10', uri: 'http://100.100.100.200/x' },
    { name: 'unspecified', uri: 'http://0.0.0.0:8080/' },
    { name: 'IPv6 loopback', uri: 'http://[::1]:8080/' },
    { name: 'IPv6 unspecified', uri: 'http://[::]/' },
    { name: 'IPv4-mapped loopback', uri: 'http://[::ffff:127.0.0.1]/' },
    { name: 'IPv6 link-local', uri: 'http://[fe80::1]/' },
    { name: 'IPv6 unique-local', uri: 'http://[fd00:10:96::1]/' },
    { name: 'NAT64 of a private address', uri: 'http://[64:ff9b::a00:1]/' },
    { name: '6to4 relay', uri: 'http://[2002:a00:1::1]/' },
  ])('http to $name', ({ uri }) => {
    expect(() => parseDestination(uri)).toThrow(BlockedDestinationError);
    expect(() => parseDestination(uri)).toThrow(/refused/);
  });
});

describe('AddressPolicy', () => {
  it.each([
    { ip: '8.8.8.8', why: undefined },
    { ip: '203.0.113.7', why: undefined },
    { ip: '2001:db8::1', why: undefined },
    { ip: '127.0.0.53', why: /loopback/ },
    { ip: '169.254.169.254', why: /link-local/ },
    { ip: '172.31.255.255', why: /private/ },
    { ip: '172.32.0.1', why: undefined },
    { ip: '100.127.255.255', why: /shared/ },
    { ip: '100.128.0.1', why: undefined },
    { ip: '224.0.0.1', why: /multicast/ },
    { ip: '255.255.255.255', why: /reserved/ },
    { ip: '::1', why: /global unicast/ },
    { ip: 'fe80::1', why: /global unicast/ },
    { ip: 'fc00::1', why: /global unicast/ },
    { ip: 'ff02::1', why: /global unicast/ },
    { ip: '::ffff:8.8.8.8', why: /global unicast/ },
    { ip: 'not-an-ip', why: /not an IP/ },
  ])('$ip', ({ ip, why }) => {
    const got = new AddressPolicy().blocked(ip);
    if (why === undefined) expect(got).toBeUndefined();
    else expect(got).toMatch(why);
  });

  it("refuses the cluster's own ranges, also public ones", () => {
    const p = new AddressPolicy(['203.0.113.0/24', '2001:db8:42::/48']);
    expect(p.blocked('203.0.113.9')).toMatch(/cluster's range 203.0.113.0\/24/);
    expect(p.blocked('2001:db8:42::7')).toMatch(/cluster's range/);
    expect(p.blocked('2001:db8:43::7')).toBeUndefined();
    // The fixed rules stay whatever the list says.
    expect(p.blocked('10.0.0.1')).toMatch(/private/);
  });

  it.each([
    { list: '10.0.0.0/8, fd00::/8', want: ['10.0.0.0/8', 'fd00::/8'] },
    { list: '', want: [] },
  ])('parses the configured list "$list"', ({ list, want }) => {
    expect(parseCidrList(list)).toEqual(want);
  });

  it.each(['10.0.0.0', '10.0.0.0/33', 'fd00::/129', 'x/8', '10.0.0.0/8/1'])('rejects the CIDR %s', (c) => {
    expect(() => new Cidr(c)).toThrow(/not a CIDR/);
  });
});

const allowAll: AddressCheck = { blocked: () => undefined };
const fixed =
  (table: Record<string, string[]>, calls: string[] = []): Resolver =>
  (host) => {
    calls.push(host);
    const a = table[host];
    return a
      ? Promise.resolve(a.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })))
      : Promise.reject(new Error(`ENOTFOUND ${host}`));
  };

describe('resolveDestination (delivery time)', () => {
  it('checks every resolved address: one private address among public ones refuses the host', async () => {
    const resolve = fixed({ 'hooks.example.com': ['203.0.113.7', '10.0.0.5'] });
    await expect(
      resolveDestination(new URL('https://hooks.example.com/'), new AddressPolicy(), resolve),
    ).rejects.toThrow(/resolves to 10.0.0.5 is a private address/);
  });

  it('a name rebound to the metadata service is refused', async () => {
    const resolve = fixed({ 'rebind.example.com': ['169.254.169.254'] });
    await expect(
      resolveDestination(new URL('http://rebind.example.com/'), new AddressPolicy(), resolve),
    ).rejects.toThrow(BlockedDestinationError);
  });

  it('returns the first address when all pass', async () => {
    const resolve = fixed({ 'hooks.example.com': ['203.0.113.7', '2001:db8::7'] });
    expect(
      await resolveDestination(new URL('https://hooks.example.com/'), new AddressPolicy(), resolve),
    ).toEqual({ address: '203.0.113.7', family: 4 });
  });

  it('a name that does not resolve is an invalid destination', async () => {
    await expect(
      resolveDestination(new URL('https://nowhere.example.com/'), new AddressPolicy(), fixed({})),
    ).rejects.toThrow(/does not resolve/);
  });
});

describe('postToDestination', () => {
  let server: Server;
  let port = 0;
  const received: { path: string; host: string | undefined; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({
          path: req.url ?? '',
          host: req.headers.host,
          body: Buffer.concat(chunks).toString(),
        });
        if (req.url === '/redirect') {
          res.writeHead(302, { location: `http://127.0.0.1:${port}/elsewhere` }).end();
        } else res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('connects to the address it checked, resolving the name once (no second lookup)', async () => {
    received.length = 0;
    const calls: string[] = [];
    const resolve = fixed({ 'hooks.example.com': ['127.0.0.1'] }, calls);
    const r = await postToDestination(
      `http://hooks.example.com:${port}/in?x=1`,
      Buffer.from('{"a":1}'),
      { 'content-type': 'application/json' },
      { check: allowAll, resolve, timeoutMs: 5000 },
    );
    expect(r.status).toBe(204);
    expect(calls).toEqual(['hooks.example.com']);
    expect(received).toEqual([{ path: '/in?x=1', host: `hooks.example.com:${port}`, body: '{"a":1}' }]);
  });

  it('refuses a name resolving to loopback with the default rules, sending nothing', async () => {
    received.length = 0;
    const resolve = fixed({ 'hooks.example.com': ['127.0.0.1'] });
    await expect(
      postToDestination(
        `http://hooks.example.com:${port}/in`,
        Buffer.from('{}'),
        {},
        { resolve, timeoutMs: 5000 },
      ),
    ).rejects.toThrow(BlockedDestinationError);
    expect(received).toEqual([]);
  });

  it('refuses localhost by name before any lookup', async () => {
    const calls: string[] = [];
    await expect(
      postToDestination(
        `http://localhost:${port}/in`,
        Buffer.from('{}'),
        {},
        {
          check: allowAll,
          resolve: fixed({}, calls),
          timeoutMs: 5000,
        },
      ),
    ).rejects.toThrow(/cluster-internal or local host/);
    expect(calls).toEqual([]);
  });

  it('never follows a redirect: the 3xx is the answer', async () => {
    received.length = 0;
    const r = await postToDestination(
      `http://hooks.example.com:${port}/redirect`,
      Buffer.from('{}'),
      {},
      { check: allowAll, resolve: fixed({ 'hooks.example.com': ['127.0.0.1'] }), timeoutMs: 5000 },
    );
    expect(r.status).toBe(302);
    expect(received.map((x) => x.path)).toEqual(['/redirect']);
  });
});
