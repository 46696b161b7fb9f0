import { LeaseConflictError, type LeaseRecord, type LeaseStore } from '../../lib/kube/leases.js';

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

  list(kind: string): Promise<LeaseRecord[]> {
    return Promise.resolve([...this.leases.values()].filter((l) => l.kind === kind).map((l) => ({ ...l })));
  }

  delete(name: string): Promise<void> {
    this.leases.delete(name);
    return Promise.resolve();
  }
}
