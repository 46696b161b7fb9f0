import type { Readable } from 'node:stream';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { API_VERSION } from '../../api/schema.js';
import type { LayerVersionResource } from '../../api/types.js';
import { fnResource, silentLogger, versionResource } from '../../test/support/gateway/fakes.js';
import { MemoryLeaseStore } from '../../test/support/memory-leases.js';
import { MemoryCatalog, type PackageCatalog } from '../catalog/catalog.js';
import { PackageGcMetrics } from '../metrics.js';
import {
  CatalogNotSyncedError,
  PackageGc,
  PackageGcLeader,
  packagesToDelete,
  referencesOf,
  type References,
} from './gc.js';
import { PackageStoreUnavailableError, type PackageStore, type StoredPackage } from './store.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const HOUR = 3_600_000;
const NOW = Date.parse('2025-06-01T12:00:00Z');
const pkg = (namespace: string, digest: string, ageMs: number, size = 10): StoredPackage => ({
  namespace,
  digest,
  size,
  storedAt: new Date(NOW - ageMs),
});
const refs =
  (m: Record<string, string[]>): References =>
  (ns) =>
    new Set(m[ns] ?? []);

function layer(namespace: string, layerName: string, version: number, digest: string): LayerVersionResource {
  return {
    apiVersion: API_VERSION,
    kind: 'LayerVersion',
    metadata: { name: `${layerName}-v${version}`, namespace, uid: `lv-${namespace}-${layerName}-${version}` },
    spec: { layerName, version, package: digest, codeSize: 1 },
  };
}

describe('packagesToDelete', () => {
  it('deletes only what is unreferenced in its own namespace and older than the grace period', () => {
    const stored = [
      pkg('shop', d('a'), 2 * HOUR), // referenced: kept
      pkg('shop', d('b'), 10 * 60_000), // unreferenced, young: kept
      pkg('shop', d('c'), 2 * HOUR), // unreferenced, old: deleted
      pkg('blue', d('a'), 2 * HOUR), // shop's reference does not keep blue's copy
      pkg('blue', d('c'), 2 * HOUR), // blue references its own copy of c
      pkg('shop', d('d'), HOUR), // exactly the grace period: deleted
    ];
    const out = packagesToDelete(stored, refs({ shop: [d('a')], blue: [d('c')] }), NOW, HOUR);
    expect(out.map((p) => `${p.namespace}/${p.digest[7]}`)).toEqual(['shop/c', 'blue/a', 'shop/d']);
  });

  it('keeps a package whose store time is unknown, or in the future (clock skew)', () => {
    const stored = [
      { ...pkg('shop', d('a'), 0), storedAt: new Date(Number.NaN) },
      pkg('shop', d('b'), -5 * 60_000),
    ];
    expect(packagesToDelete(stored, refs({}), NOW, HOUR)).toEqual([]);
  });
});

describe('referencesOf', () => {
  const fn = fnResource('hello', { code: { package: d('1') }, layers: [] }, 'shop');
  const v1 = versionResource(fn, '1', { code: { package: d('2') } });
  const withLayer = fnResource(
    'uses-layer',
    { code: { image: 'x' }, layers: ['arn:aws:lambda:r:shop:layer:deps:1'] },
    'shop',
  );

  it("unites the catalogs' Functions, FunctionVersions and LayerVersions, per namespace", () => {
    const a = new MemoryCatalog([fn, v1, withLayer]);
    const b = new MemoryCatalog([layer('shop', 'deps', 1, d('3')), layer('blue', 'x', 1, d('4'))]);
    const r = referencesOf([a, b]);
    expect([...r('shop')].sort()).toEqual([d('1'), d('2'), d('3')]);
    expect([...r('blue')]).toEqual([d('4')]);
    expect([...r('nobody')]).toEqual([]);
  });

  it('refuses a catalog that is not synced, or none at all', () => {
    expect(() => referencesOf([new MemoryCatalog([], false)])).toThrow(CatalogNotSyncedError);
    expect(() => referencesOf([new MemoryCatalog(), new MemoryCatalog([], false)])).toThrow(
      CatalogNotSyncedError,
    );
    expect(() => referencesOf([])).toThrow(CatalogNotSyncedError);
  });
});

class MemoryStore implements PackageStore {
  readonly items = new Map<string, StoredPackage>();
  deletes: string[] = [];
  failList = false;
  unavailable = false;
  add(p: StoredPackage): void {
    this.items.set(`${p.namespace}/${p.digest}`, p);
  }
  put(): Promise<{ digest: string; size: number; created: boolean }> {
    return Promise.reject(new Error('unused'));
  }
  get(): Promise<{ size: number; data: Readable } | undefined> {
    return Promise.resolve(undefined);
  }
  has(ns: string, digest: string): Promise<boolean> {
    return Promise.resolve(this.items.has(`${ns}/${digest}`));
  }
  delete(ns: string, digest: string): Promise<boolean> {
    this.deletes.push(`${ns}/${digest}`);
    return Promise.resolve(this.items.delete(`${ns}/${digest}`));
  }
  list(): Promise<StoredPackage[]> {
    if (this.unavailable) return Promise.reject(new PackageStoreUnavailableError());
    if (this.failList) return Promise.reject(new Error('nats down'));
    return Promise.resolve([...this.items.values()]);
  }
}

function setup(catalogs: () => Promise<PackageCatalog[]>, live?: PackageCatalog) {
  const store = new MemoryStore();
  const registry = new Registry();
  const metrics = new PackageGcMetrics(registry);
  const gc = new PackageGc({
    store,
    catalogs,
    ...(live ? { live } : {}),
    graceMs: HOUR,
    metrics,
    log: silentLogger(),
    now: () => NOW,
  });
  const value = async (name: string): Promise<Record<string, number>> =>
    Object.fromEntries(
      (await registry.getSingleMetric(name)!.get()).values.map((v) => [String(v.labels.namespace), v.value]),
    );
  return { store, gc, value };
}

describe('PackageGc', () => {
  it('deletes the unreferenced old packages, counts them and reports the bytes kept per namespace', async () => {
    const catalog = new MemoryCatalog([fnResource('f', { code: { package: d('a') } }, 'shop')]);
    const { store, gc, value } = setup(() => Promise.resolve([catalog]));
    store.add(pkg('shop', d('a'), 2 * HOUR, 100));
    store.add(pkg('shop', d('b'), 2 * HOUR, 30));
    store.add(pkg('blue', d('c'), 60_000, 7));
    const r = await gc.run();
    expect(r).toMatchObject({ outcome: 'done', kept: 2 });
    expect([...store.items.keys()].sort()).toEqual([`blue/${d('c')}`, `shop/${d('a')}`]);
    expect(await value('sluice_packages_deleted_total')).toEqual({ shop: 1 });
    expect(await value('sluice_packages_stored_bytes')).toEqual({ shop: 100, blue: 7 });
  });

  it('deletes nothing while a catalog is not synced, the store is not attached, or a list fails', async () => {
    const unsynced = setup(() => Promise.resolve([new MemoryCatalog([], false)]));
    unsynced.store.add(pkg('shop', d('a'), 2 * HOUR));
    expect(await unsynced.gc.run()).toMatchObject({ outcome: 'not-ready' });
    expect(unsynced.store.deletes).toEqual([]);

    const failing = setup(() => Promise.reject(new Error('API server: 500')));
    failing.store.add(pkg('shop', d('a'), 2 * HOUR));
    await expect(failing.gc.run()).rejects.toThrow('500');
    expect(failing.store.deletes).toEqual([]);

    const detached = setup(() => Promise.resolve([new MemoryCatalog()]));
    detached.store.unavailable = true;
    expect(await detached.gc.run()).toMatchObject({ outcome: 'not-ready' });
    const broken = setup(() => Promise.resolve([new MemoryCatalog()]));
    broken.store.failList = true;
    await expect(broken.gc.run()).rejects.toThrow('nats down');
  });

  it('keeps a package the live catalog references by the time of the deletion', async () => {
    const live = new MemoryCatalog();
    const { store, gc } = setup(async () => {
      // A Function written after the snapshot, seen by the watch before the deletion.
      const snapshot = new MemoryCatalog();
      live.upsert(fnResource('late', { code: { package: d('a') } }, 'shop'));
      return Promise.resolve([snapshot]);
    }, live);
    store.add(pkg('shop', d('a'), 2 * HOUR));
    store.add(pkg('shop', d('b'), 2 * HOUR));
    await gc.run();
    expect(store.deletes).toEqual([`shop/${d('b')}`]);
  });

  it('stops deleting once mayDelete says no (the lease lapsed)', async () => {
    const { store, gc } = setup(() => Promise.resolve([new MemoryCatalog()]));
    for (const c of 'abc') store.add(pkg('shop', d(c), 2 * HOUR));
    let allowed = 1;
    const r = await gc.run(() => allowed-- > 0);
    expect(r).toMatchObject({ outcome: 'done', kept: 2 });
    expect(store.deletes).toHaveLength(1);
  });
});

describe('PackageGcLeader', () => {
  it('collects on the lease holder only: at once, then every interval; a not-ready round is retried at the next renewal', async () => {
    let now = NOW;
    const leases = new MemoryLeaseStore();
    const catalog = new MemoryCatalog([], false);
    const { store, gc } = setup(() => Promise.resolve([catalog]));
    const other = setup(() => Promise.resolve([new MemoryCatalog()]));
    const leader = (identity: string, g: PackageGc): PackageGcLeader =>
      new PackageGcLeader({
        gc: g,
        leases,
        identity,
        intervalMs: 10 * 60_000,
        log: silentLogger(),
        now: () => now,
      });
    const a = leader('a', gc);
    const b = leader('b', other.gc);
    const tick = async (ms: number): Promise<void> => {
      now += ms;
      for (const l of [a, b]) {
        await l.step();
        await l.running;
      }
    };
    store.add(pkg('shop', d('a'), 2 * HOUR));
    other.store.add(pkg('shop', d('a'), 2 * HOUR));

    await tick(0);
    expect(a.leading).toBe(true);
    expect(b.leading).toBe(false);
    expect(store.deletes).toEqual([]); // catalog not synced yet
    catalog.markLoaded();
    await tick(5000); // retried at the next renewal
    expect(store.deletes).toEqual([`shop/${d('a')}`]);
    store.add(pkg('shop', d('b'), 2 * HOUR));
    await tick(5000);
    expect(store.deletes).toHaveLength(1); // not due yet
    for (let i = 0; i < 120; i++) await tick(5000);
    expect(store.deletes).toEqual([`shop/${d('a')}`, `shop/${d('b')}`]);
    expect(other.store.deletes).toEqual([]); // b never held the lease

    await a.stop(); // releases the lease: b takes over at once
    await tick(5000);
    expect(b.leading).toBe(true);
    expect(other.store.deletes).toEqual([`shop/${d('a')}`]);
    await b.stop();
  });
});
