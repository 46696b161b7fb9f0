/**
 * Tenant isolation on NATS: a namespace is an account. Proved against a real nats-server in
 * operator mode with the platform's own permission lists and account templates.
 */
import { jetstream, jetstreamManager, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  credsAuth,
  masterBytes,
  PLATFORM_NAMES,
  scopedUserCreds,
  tenantAccountKey,
} from '../../lib/nats/index.js';
import { openPollerState } from '../../poller/state.js';
import { budget, until } from '../support/time.js';
import { NatsServer } from './support/nats.js';

let server: NatsServer;
const open: NatsConnection[] = [];
const track = (nc: NatsConnection): NatsConnection => {
  open.push(nc);
  return nc;
};

beforeAll(async () => {
  server = await NatsServer.start({ maxFileStore: '1GB' });
});

afterAll(async () => {
  await Promise.all(open.map((nc) => nc.close().catch(() => undefined)));
  await server?.cleanup();
});

/** The platform's streams as the gateway creates them, with one event and one dead letter. */
async function platformStreams(): Promise<void> {
  const nc = track(await server.connect('admin'));
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'SLUICE_ASYNC', subjects: ['sluice.async.>', 'sluice.retry.>'] });
  await jsm.streams.add({ name: 'SLUICE_DLQ', subjects: ['sluice.dlq.>'] });
  await jetstream(nc).publish('sluice.async.blue.fn', 'event of blue');
  await jetstream(nc).publish('sluice.dlq.blue.fn', 'dead letter of blue');
}

async function apiError(p: Promise<unknown>): Promise<JetStreamApiError | Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a refusal, the call succeeded');
}

describe('authentication', () => {
  it('refuses a connection without credentials (the only test connecting without any)', async () => {
    await expect(connect({ servers: server.url, reconnect: false })).rejects.toThrow(
      /Authorization Violation/i,
    );
  });

  it('refuses creds of a namespace whose account was never pushed, accepts them once it is', async () => {
    const { creds } = await server.tenant('pushed');
    // Same shape and signer, but an account nobody pushed (derived from another UID).
    const stray = await scopedUserCreds(
      'x',
      tenantAccountKey(masterBytes(server.keys), 'never-pushed').getPublicKey(),
      server.keys.tenantSigner,
    );
    await expect(connect({ servers: server.url, reconnect: false, ...credsAuth(stray) })).rejects.toThrow(
      /Authorization Violation/i,
    );
    const ok = await connect({ servers: server.url, reconnect: false, ...credsAuth(creds) });
    await ok.close();
  });
});

describe('a tenant in its own account', () => {
  beforeAll(async () => {
    await platformStreams();
    // Another tenant with a stream of its own.
    const red = track(await server.connectTenant('red'));
    await (await jetstreamManager(red)).streams.add({ name: 'POSTS', subjects: ['posts.>'] });
    await jetstream(red).publish('posts.new', 'a post of red');
  });

  it('lists only its own streams; platform and other tenants’ streams are not there', async () => {
    const blue = track(await server.connectTenant('blue'));
    const jsm = await jetstreamManager(blue);
    await jsm.streams.add({ name: 'ORDERS', subjects: ['orders.>'] });
    const names: string[] = [];
    for await (const n of jsm.streams.names()) names.push(n);
    expect(names).toEqual(['ORDERS']);
    for (const s of [
      'SLUICE_ASYNC',
      'SLUICE_DLQ',
      'POSTS',
      'KV_sluice-esm-checkpoints',
      'KV_sluice-concurrency',
    ]) {
      const err = await apiError(jsm.streams.info(s));
      expect(err, s).toBeInstanceOf(JetStreamApiError);
      expect((err as JetStreamApiError).code, s).toBe(10059); // stream not found
    }
  });

  it('cannot create a consumer on, read, or purge a platform or another tenant’s stream', async () => {
    const blue = track(await server.connectTenant('blue'));
    const jsm = await jetstreamManager(blue);
    for (const s of ['SLUICE_ASYNC', 'SLUICE_DLQ', 'POSTS']) {
      expect(
        ((await apiError(jsm.consumers.add(s, { durable_name: 'steal' }))) as JetStreamApiError).code,
      ).toBe(10059);
      expect(((await apiError(jsm.streams.getMessage(s, { seq: 1 }))) as JetStreamApiError).code).toBe(10059);
      expect(((await apiError(jsm.streams.purge(s))) as JetStreamApiError).code).toBe(10059);
    }
    // The platform's KV (the poller's checkpoints) is not there either.
    const kvErr = await apiError(new Kvm(blue).open('sluice-esm-checkpoints').then((kv) => kv.status()));
    expect(kvErr.message).toMatch(/not found/i);
  });

  it('sees only its own traffic on `>`, and its stream on sluice.async.> captures nothing of the platform’s', async () => {
    const blue = track(await server.connectTenant('blue'));
    const seen: string[] = [];
    const sub = blue.subscribe('>', { callback: (_e, m) => void seen.push(m.subject) });
    await blue.flush();
    // A tenant may bind the platform's subject names in its own account: it gets nothing of the platform.
    const jsm = await jetstreamManager(blue);
    await jsm.streams.add({ name: 'EVIL', subjects: ['sluice.async.>', 'sluice.dlq.>', 'posts.>'] });
    const admin = track(await server.connect('admin'));
    await jetstream(admin).publish('sluice.async.red.fn', 'platform event');
    const red = track(await server.connectTenant('red'));
    await jetstream(red).publish('posts.new', 'another post of red');
    blue.publish('own.subject', 'mine');
    await until(() => seen.includes('own.subject'), 'its own message on >');
    sub.unsubscribe();
    expect(seen.filter((s) => s.startsWith('sluice.') || s.startsWith('posts.'))).toEqual([]);
    expect((await jsm.streams.info('EVIL')).state.messages).toBe(0);
  });

  it('may not publish to $SYS nor subscribe to the platform’s inboxes', async () => {
    const blue = track(await server.connectTenant('blue'));
    await expect(blue.request('$SYS.REQ.CLAIMS.UPDATE', 'x', { timeout: budget(2000) })).rejects.toThrow(
      /Permissions Violation|no responders/i,
    );
    const sub = blue.subscribe('_INBOX_sluice.>');
    const closed = await sub.closed;
    expect(String(closed)).toMatch(/Permissions Violation/i);
  });
});

describe('the platform user inside a tenant account', () => {
  it('consumes and publishes but cannot create, purge or delete the tenant’s streams', async () => {
    const tenant = track(await server.connectTenant('green'));
    const tjsm = await jetstreamManager(tenant);
    await tjsm.streams.add({ name: 'JOBS', subjects: ['jobs.>'] });
    await jetstream(tenant).publish('jobs.a', '1');
    const p = track(await server.connectAsPlatform('green'));
    const pjsm = await jetstreamManager(p);
    await pjsm.consumers.add('JOBS', { durable_name: 'sluice-esm-green-m', ack_policy: 'explicit' });
    const c = await jetstream(p).consumers.get('JOBS', 'sluice-esm-green-m');
    const m = await c.next({ expires: budget(2000) });
    expect(m?.string()).toBe('1');
    await m?.ackAck();
    await jetstream(p).publish('jobs.b', '2');
    for (const call of [
      () => pjsm.streams.add({ name: 'X', subjects: ['x.>'] }),
      () => pjsm.streams.purge('JOBS'),
      () => pjsm.streams.delete('JOBS'),
    ]) {
      expect((await apiError(call())).message).toMatch(/Permissions Violation/i);
    }
    expect((await tjsm.streams.info('JOBS')).state.messages).toBe(2);
  });
});

describe('platform users', () => {
  it('each keeps to its list: the poller cannot delete SLUICE_ASYNC nor read the gateway’s settle records or concurrency counters, the gateway cannot read the poller’s KV', async () => {
    await openPollerState(jetstream(track(await server.connect('poller'))));
    const poller = await jetstreamManager(track(await server.connect('poller')));
    expect((await apiError(poller.streams.delete('SLUICE_ASYNC'))).message).toMatch(/Permissions Violation/i);
    expect((await apiError(poller.streams.info(`KV_${PLATFORM_NAMES.settleBucket}`))).message).toMatch(
      /Permissions Violation/i,
    );
    expect((await apiError(poller.streams.info(`KV_${PLATFORM_NAMES.concurrencyBucket}`))).message).toMatch(
      /Permissions Violation/i,
    );
    const gateway = await jetstreamManager(track(await server.connect('gateway')));
    expect((await apiError(gateway.streams.info(`KV_${PLATFORM_NAMES.checkpointBucket}`))).message).toMatch(
      /Permissions Violation/i,
    );
  });
});

describe('tenant storage limits', () => {
  it('refuse a stream over the account’s storage and a publish past it; the platform keeps publishing', async () => {
    const limits = {
      diskStorage: 4 * 1024 * 1024,
      memoryStorage: 0,
      streams: 2,
      consumers: 8,
      maxAckPending: -1,
    };
    const { creds } = await server.tenant('small', { limits });
    const nc = track(await connect({ servers: server.url, ...credsAuth(creds) }));
    const jsm = await jetstreamManager(nc);
    expect(
      (await apiError(jsm.streams.add({ name: 'BIG', subjects: ['big'], max_bytes: 64 * 1024 * 1024 })))
        .message,
    ).toMatch(/insufficient storage|resources/i);
    await jsm.streams.add({ name: 'FILL', subjects: ['fill'] });
    const js = jetstream(nc);
    const chunk = new Uint8Array(512 * 1024);
    let refused: Error | undefined;
    for (let i = 0; i < 20 && !refused; i++) {
      await js.publish('fill', chunk).catch((err: Error) => (refused = err));
    }
    expect(refused?.message).toMatch(/resource limits exceeded|insufficient/i);
    // streams: 2 — FILL is the first, a second is allowed, a third is refused.
    await jsm.streams.add({ name: 'SECOND', subjects: ['t2'] });
    expect((await apiError(jsm.streams.add({ name: 'THIRD', subjects: ['t3'] }))).message).toMatch(
      /maximum number of streams/i,
    );
    // The platform account is not affected.
    const admin = track(await server.connect('admin'));
    const ack = await jetstream(admin).publish('sluice.async.small.fn', chunk);
    expect(ack.stream).toBe('SLUICE_ASYNC');
  });
});

describe('the platform’s connections into namespaces’ accounts', () => {
  it('one per namespace, shared, closed when idle, reopened on demand; none without an account', async () => {
    await server.tenant('pool-a');
    const pool = server.tenantConnections('pool-test', 1000);
    try {
      const a1 = await pool.acquire('pool-a');
      const a2 = await pool.acquire('pool-a');
      expect(a2.nc).toBe(a1.nc);
      expect(pool.open).toEqual(['pool-a']);
      a1.release();
      a2.release();
      await until(() => pool.open.length === 0, 'the idle connection closed', 10_000);
      await until(() => a1.nc.isClosed(), 'the connection closed');
      const again = await pool.acquire('pool-a');
      expect(again.nc).not.toBe(a1.nc);
      expect(again.nc.isClosed()).toBe(false);
      again.release();
      await expect(pool.acquire('no-such-namespace')).rejects.toMatchObject({
        name: 'AccountNotReadyError',
        reason: 'NatsAccountNotReady',
      });
    } finally {
      await pool.close();
    }
  });
});
