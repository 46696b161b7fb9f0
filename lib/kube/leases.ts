import {
  ApiException,
  CoordinationV1Api,
  V1MicroTime,
  type KubeConfig,
  type V1Lease,
} from '@kubernetes/client-node';
import { SluiceError } from '../errors.js';

/** A coordination.k8s.io Lease reduced to what leader election and work sharing need. */
export interface LeaseRecord {
  name: string;
  holder?: string;
  /** ms since the epoch. */
  renewTime?: number;
  durationSeconds: number;
  transitions: number;
  /** Optimistic concurrency token (the object's resourceVersion). */
  version?: string;
  /** What the lease is for (label `sluice.dev/lease-kind`), e.g. leader, member, mapping. */
  kind: string;
}

/** Another writer changed the lease in between (or it already exists). */
export class LeaseConflictError extends SluiceError {
  override readonly name = 'LeaseConflictError';
}

/** Where leases live: Kubernetes in production (KubeLeaseStore), memory in unit tests. */
export interface LeaseStore {
  get(name: string): Promise<LeaseRecord | undefined>;
  /** Throws LeaseConflictError when it exists. */
  create(rec: LeaseRecord): Promise<LeaseRecord>;
  /** Throws LeaseConflictError when `rec.version` is stale. */
  update(rec: LeaseRecord): Promise<LeaseRecord>;
  list(kind: string): Promise<LeaseRecord[]>;
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
  kind: string,
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

const code = (err: unknown): number | undefined => (err instanceof ApiException ? err.code : undefined);

/**
 * Leases in one namespace, labelled with the component that uses them
 * (`app.kubernetes.io/name`) and their kind (`sluice.dev/lease-kind`).
 */
export class KubeLeaseStore implements LeaseStore {
  private readonly api: CoordinationV1Api;

  constructor(
    kc: KubeConfig,
    private readonly namespace: string,
    private readonly component: string,
  ) {
    this.api = kc.makeApiClient(CoordinationV1Api);
  }

  private toRecord(l: V1Lease): LeaseRecord {
    return {
      name: l.metadata?.name ?? '',
      kind: l.metadata?.labels?.['sluice.dev/lease-kind'] ?? 'mapping',
      ...(l.spec?.holderIdentity ? { holder: l.spec.holderIdentity } : {}),
      ...(l.spec?.renewTime ? { renewTime: new Date(l.spec.renewTime).getTime() } : {}),
      durationSeconds: l.spec?.leaseDurationSeconds ?? 15,
      transitions: l.spec?.leaseTransitions ?? 0,
      ...(l.metadata?.resourceVersion ? { version: l.metadata.resourceVersion } : {}),
    };
  }

  private toLease(r: LeaseRecord): V1Lease {
    return {
      metadata: {
        name: r.name,
        namespace: this.namespace,
        labels: { 'app.kubernetes.io/name': this.component, 'sluice.dev/lease-kind': r.kind },
        ...(r.version ? { resourceVersion: r.version } : {}),
      },
      spec: {
        holderIdentity: r.holder ?? '',
        leaseDurationSeconds: r.durationSeconds,
        leaseTransitions: r.transitions,
        // MicroTime: the API server wants microseconds (a plain Date serializes milliseconds: 400).
        ...(r.renewTime ? { renewTime: new V1MicroTime(r.renewTime) } : {}),
      },
    };
  }

  async get(name: string): Promise<LeaseRecord | undefined> {
    try {
      return this.toRecord(await this.api.readNamespacedLease({ name, namespace: this.namespace }));
    } catch (err) {
      if (code(err) === 404) return undefined;
      throw err;
    }
  }

  async create(rec: LeaseRecord): Promise<LeaseRecord> {
    try {
      return this.toRecord(
        await this.api.createNamespacedLease({ namespace: this.namespace, body: this.toLease(rec) }),
      );
    } catch (err) {
      if (code(err) === 409) throw new LeaseConflictError(`lease ${rec.name} exists`, { cause: err });
      throw err;
    }
  }

  async update(rec: LeaseRecord): Promise<LeaseRecord> {
    try {
      return this.toRecord(
        await this.api.replaceNamespacedLease({
          name: rec.name,
          namespace: this.namespace,
          body: this.toLease(rec),
        }),
      );
    } catch (err) {
      if (code(err) === 409 || code(err) === 404)
        throw new LeaseConflictError(`lease ${rec.name} changed`, { cause: err });
      throw err;
    }
  }

  async list(kind: string): Promise<LeaseRecord[]> {
    const res = await this.api.listNamespacedLease({
      namespace: this.namespace,
      labelSelector: `app.kubernetes.io/name=${this.component},sluice.dev/lease-kind=${kind}`,
    });
    return res.items.map((l) => this.toRecord(l));
  }

  async delete(name: string): Promise<void> {
    try {
      await this.api.deleteNamespacedLease({ name, namespace: this.namespace });
    } catch (err) {
      if (code(err) !== 404) throw err;
    }
  }
}
