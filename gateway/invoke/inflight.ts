import type { InflightEntry } from '../../api/inflight.js';

/**
 * Calls in flight through this gateway replica per function version: running on a pod or held
 * waiting for one (cold start, all pods busy). The autoscaler reads it through
 * `GET /internal/v1/inflight` (handlers/inflight.ts) and sums it over the replicas.
 */
export class InflightCounter {
  private readonly counts = new Map<string, InflightEntry>();

  /** Counts one call until the returned function is called (idempotent). */
  enter(namespace: string, fn: string, version: string): () => void {
    const key = `${namespace}/${fn}/${version}`;
    let e = this.counts.get(key);
    if (!e) {
      e = { namespace, function: fn, version, inflight: 0 };
      this.counts.set(key, e);
    }
    e.inflight++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const cur = this.counts.get(key);
      if (!cur) return;
      cur.inflight--;
      if (cur.inflight <= 0) this.counts.delete(key);
    };
  }

  /** The versions with calls in flight now, sorted by namespace, function and version. */
  snapshot(): InflightEntry[] {
    return [...this.counts.values()]
      .map((e) => ({ ...e }))
      .sort(
        (a, b) =>
          a.namespace.localeCompare(b.namespace) ||
          a.function.localeCompare(b.function) ||
          a.version.localeCompare(b.version),
      );
  }
}
