/**
 * The package store (gateway/packages/store.ts) on a real nats-server, run as the gateway under
 * its own permission list: put/get/has/list/delete, de-duplication by digest, the per-namespace
 * quota, large packages, and that no tenant account can reach the bucket.
 */
import { createHash, randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager, JetStreamApiError } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CodeStorageExceededError,
  NatsPackageStore,
  type PackageStore,
} from '../../gateway/packages/store.js';
import { NatsServer } from './support/nats.js';

let server: NatsServer;
let nc: NatsConnection;
let store: PackageStore;
const open: NatsConnection[] = [];

const QUOTA = 12 * 1024 * 1024;
const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await server.connect('gateway');
  open.push(nc);
  store = await NatsPackageStore.open(jetstream(nc), {
    bucket: 'sluice-packages',
    replicas: 1,
    quotaBytes: QUOTA,
  });
}, 60_000);

afterAll(async () => {
  await Promise.all(open.map((c) => c.close().catch(() => undefined)));
  await server?.cleanup();
});

describe('the package store, as the gateway', () => {
  it('stores a zip under its digest once, and reads it back', async () => {
    const zip = randomBytes(1000);
    const first = await store.put('shop', zip);
    expect(first).toEqual({ digest: digestOf(zip), size: 1000, created: true });
    expect(await store.put('shop', zip)).toEqual({ ...first, created: false });
    expect(await store.has('shop', first.digest)).toBe(true);
    const got = await store.get('shop', first.digest);
    expect(got?.size).toBe(1000);
    expect((await readAll(got!.data)).equals(zip)).toBe(true);
  });

  it('an upload of a package already stored counts as its last use for the garbage collector', async () => {
    const zip = randomBytes(500);
    const { digest } = await store.put('shop', zip);
    const storedAt = (await store.list('shop')).find((p) => p.digest === digest)?.storedAt.getTime() ?? NaN;
    await new Promise((r) => setTimeout(r, 50));
    const before = Date.now();
    await store.put('shop', zip);
    const reused = (await store.list('shop')).find((p) => p.digest === digest)?.storedAt.getTime() ?? NaN;
    expect(reused).toBeGreaterThanOrEqual(before);
    expect(reused).toBeGreaterThan(storedAt);
    // The bytes are the same object still.
    expect((await readAll((await store.get('shop', digest))!.data)).equals(zip)).toBe(true);
  });

  it('streams a 20 MB package intact', async () => {
    const zip = randomBytes(20 * 1024 * 1024);
    const big = await NatsPackageStore.open(jetstream(nc), {
      bucket: 'sluice-packages',
      replicas: 1,
      quotaBytes: 64 * 1024 * 1024,
    });
    const { digest } = await big.put('big', zip);
    const got = await big.get('big', digest);
    expect(digestOf(await readAll(got!.data))).toBe(digest);
  }, 60_000);

  it('keeps namespaces apart: a digest known to one opens nothing in another', async () => {
    const zip = randomBytes(500);
    const { digest } = await store.put('team-a', zip);
    expect(await store.has('team-b', digest)).toBe(false);
    expect(await store.get('team-b', digest)).toBeUndefined();
    expect(await store.delete('team-b', digest)).toBe(false);
    expect(await store.has('team-a', digest)).toBe(true);
  });

  it('lists a namespace’s packages with their sizes, and deletes one', async () => {
    const a = await store.put('listing', randomBytes(100));
    const b = await store.put('listing', randomBytes(200));
    const listed = await store.list('listing');
    expect(listed.map((p) => [p.digest, p.size]).sort()).toEqual(
      [
        [a.digest, 100],
        [b.digest, 200],
      ].sort(),
    );
    expect(listed.every((p) => p.namespace === 'listing' && p.storedAt instanceof Date)).toBe(true);
    expect((await store.list()).some((p) => p.namespace === 'shop')).toBe(true);
    expect(await store.delete('listing', a.digest)).toBe(true);
    expect(await store.delete('listing', a.digest)).toBe(false);
    expect((await store.list('listing')).map((p) => p.digest)).toEqual([b.digest]);
    expect(await store.get('listing', a.digest)).toBeUndefined();
  });

  it('refuses what would exceed the namespace’s quota (CodeStorageExceededException), per namespace', async () => {
    await store.put('quota', randomBytes(8 * 1024 * 1024));
    await expect(store.put('quota', randomBytes(5 * 1024 * 1024))).rejects.toBeInstanceOf(
      CodeStorageExceededError,
    );
    // A package already stored costs nothing more; another namespace has its own quota.
    await store.put('quota-2', randomBytes(5 * 1024 * 1024));
  }, 30_000);

  it('answers nothing for names that are not digests', async () => {
    expect(await store.has('shop', 'sha256:nope')).toBe(false);
    expect(await store.get('shop', '../x')).toBeUndefined();
  });
});

describe('tenants', () => {
  it('cannot see or read the platform’s package bucket from their accounts', async () => {
    const { digest } = await store.put('blue', randomBytes(64));
    const blue = await server.connectTenant('blue');
    open.push(blue);
    const jsm = await jetstreamManager(blue);
    const err = await jsm.streams.info('OBJ_sluice-packages').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JetStreamApiError);
    expect((err as JetStreamApiError).code).toBe(10059); // stream not found
    // Opening the bucket by name finds nothing (it would be the tenant's own, empty).
    const os = await new Objm(blue).open('sluice-packages').catch((e: unknown) => e);
    expect(os).toBeInstanceOf(Error);
    expect(String((os as Error).message)).toMatch(/not found/i);
    expect(await store.has('blue', digest)).toBe(true);
  });
});
