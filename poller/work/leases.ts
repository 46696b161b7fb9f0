import { createHash } from 'node:crypto';
import { SluiceError } from '../../lib/errors.js';

/** A coordination.k8s.io Lease reduced to what work sharing needs. */
export interface LeaseRecord {
  name: string;
  holder?: string;
  /** ms since the epoch. */
  renewTime?: number;
  durationSeconds: number;
  transitions: number;
  /** Optimistic concurrency token (the object's resourceVersion). */
  version?: string;
  kind: LeaseKind;
}

/** member: a live poller replica; mapping: the owner of one mapping; autoscaler: the one replica that scales. */
export type LeaseKind = 'member' | 'mapping' | 'autoscaler';

/** Another writer changed the lease in between (or it already exists). */
export class LeaseConflictError extends SluiceError {
  override readonly name = 'LeaseConflictError';
}

/** Where leases live: Kubernetes in production (kube.ts), memory in unit tests. */
export interface LeaseStore {
  get(name: string): Promise<LeaseRecord | undefined>;
  /** Throws LeaseConflictError when it exists. */
  create(rec: LeaseRecord): Promise<LeaseRecord>;
  /** Throws LeaseConflictError when `rec.version` is stale. */
  update(rec: LeaseRecord): Promise<LeaseRecord>;
  list(kind: LeaseKind): Promise<LeaseRecord[]>;
  delete(name: string): Promise<void>;
}

export function isExpired(l: LeaseRecord, now: number): boolean {
  return !l.holder || (l.renewTime ?? 0) + l.durationSeconds * 1000 < now;
}

/**
 * Acquires or renews a lease as client-go's leader election does: take it when free or expired,
 * renew it when held; every write carries the version read, so two replicas never both win.
 * Returns whether `identity` holds it afterwards.
 */
export async function acquireOrRenew(
  store: LeaseStore,
  name: string,
  kind: LeaseKind,
  identity: string,
  durationSeconds: number,
  now: number,
): Promise<boolean> {
  const cur = await store.get(name);
  if (!cur) {
    try {
      await store.create({ name, kind, holder: identity, renewTime: now, durationSeconds, transitions: 0 });
      return true;
    } catch (err) {
      if (err instanceof LeaseConflictError) return false;
      throw err;
    }
  }
  const mine = cur.holder === identity;
  if (!mine && !isExpired(cur, now)) return false;
  try {
    await store.update({
      ...cur,
      holder: identity,
      renewTime: now,
      durationSeconds,
      transitions: mine ? cur.transitions : cur.transitions + 1,
    });
    return true;
  } catch (err) {
    if (err instanceof LeaseConflictError) return false;
    throw err;
  }
}

/**
 * Gives a held lease up so another replica can take it at once. The release time is kept as the
 * renew time: a released lease is free for its preferred owner now, but not "expired for twice as
 * long" (free for anyone) — else the replica that just handed it over would take it straight back.
 */
export async function release(
  store: LeaseStore,
  name: string,
  identity: string,
  now = Date.now(),
): Promise<void> {
  const cur = await store.get(name);
  if (!cur || cur.holder !== identity) return;
  try {
    await store.update({ ...cur, holder: '', renewTime: now });
  } catch (err) {
    if (!(err instanceof LeaseConflictError)) throw err;
  }
}

/**
 * Rendezvous (highest-random-weight) hashing: every replica computes the same preferred owner
 * for a key from the same member list, and when a member leaves only its keys move.
 */
export function preferredOwner(members: readonly string[], key: string): string | undefined {
  let best: string | undefined;
  let bestScore = '';
  for (const m of members) {
    const score = createHash('sha256').update(`${m}\u0000${key}`).digest('hex');
    if (best === undefined || score > bestScore) {
      best = m;
      bestScore = score;
    }
  }
  return best;
}

/** Leases in memory with the API server's optimistic concurrency (tests; one process). */
export class MemoryLeaseStore implements LeaseStore {
  private readonly leases = new Map<string, LeaseRecord>();
  private rv = 0;

  get(name: string): Promise<LeaseRecord | undefined> {
    const l = this.leases.get(name);
    return Promise.resolve(l ? { ...l } : undefined);
  }

  create(rec: LeaseRecord): Promise<LeaseRecord> {
    if (this.leases.has(rec.name)) return Promise.reject(new LeaseConflictError(`lease ${rec.name} exists`));
    const stored = { ...rec, version: String(++this.rv) };
    this.leases.set(rec.name, stored);
    return Promise.resolve({ ...stored });
  }

  update(rec: LeaseRecord): Promise<LeaseRecord> {
    const cur = this.leases.get(rec.name);
    if (!cur || cur.version !== rec.version) {
      return Promise.reject(new LeaseConflictError(`lease ${rec.name} changed`));
    }
    const stored = { ...rec, version: String(++this.rv) };
    this.leases.set(rec.name, stored);
    return Promise.resolve({ ...stored });
  }

  list(kind: LeaseKind): Promise<LeaseRecord[]> {
    return Promise.resolve([...this.leases.values()].filter((l) => l.kind === kind).map((l) => ({ ...l })));
  }

  delete(name: string): Promise<void> {
    this.leases.delete(name);
    return Promise.resolve();
  }
}
