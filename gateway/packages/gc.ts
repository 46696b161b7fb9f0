import { LeaderElector } from '../../lib/kube/elector.js';
import type { LeaseStore } from '../../lib/kube/leases.js';
import { SluiceError, type Logger } from '../../lib/index.js';
import type { PackageCatalog } from '../catalog/catalog.js';
import type { PackageGcMetrics } from '../metrics.js';
import { namespacePackages } from './references.js';
import { PackageStoreUnavailableError, type PackageStore, type StoredPackage } from './store.js';

/**
 * Garbage collection of zip packages: a package no Function, FunctionVersion or LayerVersion of
 * its own namespace references (references.ts) is deleted once it is older than a grace period —
 * so a zip CreateFunction has just stored, whose Function is not written (or not yet seen) yet,
 * survives. One gateway replica collects at a time: the holder of a Lease.
 */

/** What keeps a namespace's packages alive: the set of digests it references. */
export type References = (namespace: string) => ReadonlySet<string>;

/**
 * The packages to delete (pure): those not referenced in their namespace and stored at least
 * `graceMs` before `nowMs`. A package whose store time is unknown is kept.
 */
export function packagesToDelete(
  stored: readonly StoredPackage[],
  referenced: References,
  nowMs: number,
  graceMs: number,
): StoredPackage[] {
  return stored.filter((p) => {
    if (referenced(p.namespace).has(p.digest)) return false;
    const at = p.storedAt.getTime();
    return Number.isFinite(at) && nowMs - at >= graceMs;
  });
}

/** A catalog has not been listed completely yet: deleting by it could delete what it has not seen. */
export class CatalogNotSyncedError extends SluiceError {
  override readonly name = 'CatalogNotSyncedError';
}

/**
 * The union of the catalogs' references, per namespace (computed once per namespace). Throws
 * CatalogNotSyncedError unless every catalog is synced.
 */
export function referencesOf(catalogs: readonly PackageCatalog[]): References {
  if (catalogs.length === 0 || !catalogs.every((c) => c.ready())) {
    throw new CatalogNotSyncedError('the catalog is not synced yet');
  }
  const cache = new Map<string, Set<string>>();
  return (namespace) => {
    let refs = cache.get(namespace);
    if (!refs) {
      refs = new Set<string>();
      for (const c of catalogs) for (const d of namespacePackages(c, namespace)) refs.add(d);
      cache.set(namespace, refs);
    }
    return refs;
  };
}

export interface PackageGcOptions {
  store: PackageStore;
  /**
   * The catalogs whose references keep packages alive, read at each round: every one must be
   * synced, and a throw (a failed list) ends the round without deleting anything.
   */
  catalogs: () => Promise<readonly PackageCatalog[]>;
  /**
   * The catalog kept current by watches, asked again right before each deletion, so a Function
   * written since the round's snapshot keeps its package.
   */
  live?: PackageCatalog;
  graceMs: number;
  metrics: PackageGcMetrics;
  log: Logger;
  now?: () => number;
}

export type GcRound =
  | { outcome: 'done'; deleted: StoredPackage[]; kept: number }
  | { outcome: 'not-ready'; reason: string };

/** One collection round at a time over the store. */
export class PackageGc {
  private readonly now: () => number;

  constructor(private readonly o: PackageGcOptions) {
    this.now = o.now ?? Date.now;
  }

  /**
   * Lists the store, then the references (so a package stored meanwhile is not in the list,
   * and a Function written meanwhile is in the references), and deletes what packagesToDelete
   * says — while `mayDelete` holds (the lease). Throws on a store or catalog failure.
   */
  async run(mayDelete: () => boolean = () => true): Promise<GcRound> {
    let stored: StoredPackage[];
    let refs: References;
    try {
      stored = await this.o.store.list();
      refs = referencesOf(await this.o.catalogs());
    } catch (err) {
      if (err instanceof PackageStoreUnavailableError || err instanceof CatalogNotSyncedError) {
        return { outcome: 'not-ready', reason: err.message };
      }
      throw err;
    }
    const doomed = packagesToDelete(stored, refs, this.now(), this.o.graceMs);
    const deleted: StoredPackage[] = [];
    for (const p of doomed) {
      if (!mayDelete()) break;
      if (this.o.live && this.o.live.ready() && namespacePackages(this.o.live, p.namespace).has(p.digest)) {
        continue;
      }
      if (await this.o.store.delete(p.namespace, p.digest)) {
        deleted.push(p);
        this.o.metrics.deleted.inc({ namespace: p.namespace });
        this.o.log.info(
          { namespace: p.namespace, digest: p.digest, size: p.size, storedAt: p.storedAt.toISOString() },
          'deleted an unreferenced package',
        );
      }
    }
    this.report(stored, deleted);
    return { outcome: 'done', deleted, kept: stored.length - deleted.length };
  }

  private report(stored: StoredPackage[], deleted: StoredPackage[]): void {
    const gone = new Set(deleted.map((p) => `${p.namespace}/${p.digest}`));
    const bytes = new Map<string, number>();
    for (const p of stored) {
      if (gone.has(`${p.namespace}/${p.digest}`)) continue;
      bytes.set(p.namespace, (bytes.get(p.namespace) ?? 0) + p.size);
    }
    this.o.metrics.storedBytes.reset();
    for (const [namespace, n] of bytes) this.o.metrics.storedBytes.set({ namespace }, n);
  }

  /** Drops the gauge (a replica that stops collecting reports no stale sizes). */
  forget(): void {
    this.o.metrics.storedBytes.reset();
  }
}

export const PACKAGE_GC_LEASE = 'sluice-gateway-package-gc';

export interface PackageGcLeaderOptions {
  gc: PackageGc;
  leases: LeaseStore;
  identity: string;
  /** Time between rounds. */
  intervalMs: number;
  /** Retry after a failed round (a store or API error), at most intervalMs. */
  retryMs?: number;
  leaseSeconds?: number;
  renewSeconds?: number;
  log: Logger;
  now?: () => number;
}

/**
 * Runs the collection on the replica that holds the lease PACKAGE_GC_LEASE: it renews every
 * renewSeconds and starts a round when one is due (at once on becoming the holder, then every
 * intervalMs); a round that found the store or the catalog not ready is retried at the next
 * renewal. A round stops deleting as soon as the lease could have lapsed.
 */
export class PackageGcLeader {
  private readonly elector: LeaderElector;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private round: Promise<void> | undefined;
  private nextAt = 0;
  private wasLeading = false;

  constructor(private readonly o: PackageGcLeaderOptions) {
    this.now = o.now ?? Date.now;
    this.elector = new LeaderElector({
      leases: o.leases,
      name: PACKAGE_GC_LEASE,
      kind: 'package-gc',
      identity: o.identity,
      leaseSeconds: o.leaseSeconds ?? 15,
      renewSeconds: o.renewSeconds ?? 5,
      log: o.log,
      ...(o.now ? { now: o.now } : {}),
    });
  }

  get leading(): boolean {
    return this.elector.isLeader;
  }

  start(): void {
    const loop = (): void => {
      if (this.stopped) return;
      void this.step().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, (this.o.renewSeconds ?? 5) * 1000);
      });
    };
    loop();
  }

  /** One renewal; starts a round when leading and one is due (not awaited: renewals go on). */
  async step(): Promise<void> {
    const leading = await this.elector.step();
    if (leading && !this.wasLeading) {
      this.o.log.info({ identity: this.o.identity }, 'collecting unreferenced packages here');
      this.nextAt = 0;
    } else if (!leading && this.wasLeading) {
      this.o.gc.forget();
    }
    this.wasLeading = leading;
    if (!leading || this.round || this.stopped || this.now() < this.nextAt) return;
    this.round = this.runRound().finally(() => (this.round = undefined));
  }

  /** The round under way, if any (tests). */
  get running(): Promise<void> | undefined {
    return this.round;
  }

  private async runRound(): Promise<void> {
    const started = this.now();
    try {
      const r = await this.o.gc.run(() => !this.stopped && this.elector.isLeader);
      if (r.outcome === 'not-ready') {
        this.o.log.debug({ reason: r.reason }, 'package garbage collection waits');
        return;
      }
      this.nextAt = started + this.o.intervalMs;
      this.o.log.info(
        { deleted: r.deleted.length, kept: r.kept, ms: this.now() - started },
        'package garbage collection done',
      );
    } catch (err) {
      this.nextAt = started + Math.min(this.o.intervalMs, this.o.retryMs ?? 60_000);
      this.o.log.warn({ err }, 'package garbage collection failed; nothing more deleted this round');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.round;
    await this.elector.stop();
  }
}
