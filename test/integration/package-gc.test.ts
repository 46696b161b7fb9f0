/**
 * Garbage collection of zip packages (gateway/packages/gc.ts) on a real nats-server, as the
 * gateway under its own permission list: referenced packages are kept, unreferenced ones younger
 * than the grace period (by the object store's mtime) are kept, unreferenced older ones are
 * deleted, and the same digest in another namespace is a package of its own. The round runs
 * through the Lease (lib/kube's elector over memory leases) as in the gateway.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryCatalog } from '../../gateway/catalog/catalog.js';
import { PackageGcMetrics } from '../../gateway/metrics.js';
import { PackageGc, PackageGcLeader } from '../../gateway/packages/gc.js';
import { NatsPackageStore } from '../../gateway/packages/store.js';
import { fnResource, silentLogger, versionResource } from '../support/gateway/fakes.js';
import { MemoryLeaseStore } from '../support/memory-leases.js';
import { NatsServer } from './support/nats.js';

let server: NatsServer;
let nc: NatsConnection;
let store: NatsPackageStore;

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await server.connect('gateway');
  store = await NatsPackageStore.open(jetstream(nc), {
    bucket: 'sluice-packages',
    replicas: 1,
    quotaBytes: 64 * 1024 * 1024,
  });
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await server?.cleanup();
});

const GRACE_MS = 1500;

describe('package garbage collection on NATS', () => {
  it('keeps referenced and young packages, deletes old unreferenced ones, per namespace', async () => {
    const shared = randomBytes(300);
    const a = await store.put('shop', randomBytes(100)); // the Function's $LATEST
    const v = await store.put('shop', randomBytes(110)); // a FunctionVersion's
    const old = await store.put('shop', randomBytes(120)); // replaced long ago
    const sharedShop = await store.put('shop', shared); // unreferenced in shop…
    const sharedBlue = await store.put('blue', shared); // …referenced in blue
    expect(sharedBlue.digest).toBe(sharedShop.digest);
    await sleep(GRACE_MS + 300);
    const young = await store.put('shop', randomBytes(130)); // just uploaded, Function not written yet

    const fn = fnResource('hello', { code: { package: a.digest } }, 'shop');
    const catalog = new MemoryCatalog([
      fn,
      versionResource(fn, '1', { code: { package: v.digest } }),
      fnResource('blue-fn', { code: { package: sharedBlue.digest } }, 'blue'),
    ]);
    const registry = new Registry();
    const gc = new PackageGc({
      store,
      catalogs: () => Promise.resolve([catalog]),
      live: catalog,
      graceMs: GRACE_MS,
      metrics: new PackageGcMetrics(registry),
      log: silentLogger(),
    });
    const leader = new PackageGcLeader({
      gc,
      leases: new MemoryLeaseStore(),
      identity: 'gateway-0',
      intervalMs: 600_000,
      log: silentLogger(),
    });
    await leader.step();
    expect(leader.leading).toBe(true);
    await leader.running;

    const left = (await store.list()).map((p) => `${p.namespace}/${p.digest}`).sort();
    expect(left).toEqual(
      [`shop/${a.digest}`, `shop/${v.digest}`, `shop/${young.digest}`, `blue/${sharedBlue.digest}`].sort(),
    );
    expect(await store.has('shop', old.digest)).toBe(false);
    expect(await store.has('shop', sharedShop.digest)).toBe(false);
    const got = await store.get('blue', sharedBlue.digest);
    expect(got?.size).toBe(300);
    got?.data.destroy();

    const metric = async (name: string): Promise<Record<string, number>> =>
      Object.fromEntries(
        (await registry.getSingleMetric(name)!.get()).values.map((x) => [
          String(x.labels.namespace),
          x.value,
        ]),
      );
    expect(await metric('sluice_packages_deleted_total')).toEqual({ shop: 2 });
    expect(await metric('sluice_packages_stored_bytes')).toEqual({ shop: 340, blue: 300 });

    // Later, the young one is old too: still kept only while something references it.
    await sleep(GRACE_MS + 300);
    expect(await gc.run()).toMatchObject({ outcome: 'done', deleted: [{ digest: young.digest }] });
    await leader.stop();
  }, 30_000);
});
