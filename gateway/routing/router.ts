import { LATEST, LATEST_LABEL, versionLabel } from '../../api/naming.js';

/** Identifies the pods of one function version: `namespace/function/versionLabel`. */
export function workloadKey(namespace: string, fn: string, version: string): string {
  return `${namespace}/${fn}/${versionLabel(version)}`;
}

/** The inverse of workloadKey's version part: `latest` → `$LATEST`. */
export function versionFromLabel(label: string): string {
  return label === LATEST_LABEL ? LATEST : label;
}

/** A reserved slot on one pod; `release()` must be called exactly once when the call ends. */
export interface Lease {
  /** `host:port` (IPv6 hosts in brackets). */
  address: string;
  release(): void;
}

/**
 * Where calls go: the ready endpoints of each function version and the calls outstanding on
 * each. The gateway picks the pod with the fewest outstanding calls among those with room
 * (`concurrencyPerPod`), excluding pods that just answered "busy".
 */
export interface EndpointRouter {
  /** Ready endpoints of a workload. */
  endpoints(key: string): readonly string[];
  /** Reserves a slot on the least-loaded ready pod with room; undefined when none has room. */
  acquire(key: string, capacityPerPod: number, exclude?: ReadonlySet<string>): Lease | undefined;
  /** Resolves on the next change for `key` (endpoints changed or a slot was freed) or when `signal` aborts. */
  changed(key: string, signal?: AbortSignal): Promise<void>;
  /** Outstanding calls of a workload (all pods), for metrics and tests. */
  outstanding(key: string): number;
  /** Endpoints with an address whose pod is not Ready yet (starting): candidates for a direct probe. */
  pending(key: string): readonly string[];
  /**
   * Counts a pending endpoint as ready because it answered a readiness probe directly (ahead of
   * the EndpointSlice, which follows the kubelet's probe period). Ignored for an address that is
   * not pending; undone when the endpoint leaves the slice.
   */
  markReady(key: string, address: string): void;
}

interface Workload {
  /** Ready addresses: the slices' ready ones plus `probed`. */
  addresses: string[];
  /** What the EndpointSlices say: ready and not-yet-ready (starting) addresses. */
  sliceReady: string[];
  slicePending: string[];
  /** Pending addresses that answered the gateway's own readiness probe. */
  probed: Set<string>;
  outstanding: Map<string, number>;
  waiters: Set<() => void>;
  /** Rotates the starting point among equally loaded pods. */
  next: number;
}

/** The in-memory router: fed by the EndpointSlice watch (kube-endpoints.ts) or directly by tests. */
export class EndpointTable implements EndpointRouter {
  private readonly workloads = new Map<string, Workload>();

  private workload(key: string): Workload {
    let w = this.workloads.get(key);
    if (!w) {
      w = {
        addresses: [],
        sliceReady: [],
        slicePending: [],
        probed: new Set(),
        outstanding: new Map(),
        waiters: new Set(),
        next: 0,
      };
      this.workloads.set(key, w);
    }
    return w;
  }

  /**
   * Replaces the endpoints of a workload: the ready ones and, optionally, those whose pods are
   * still starting. Outstanding counts of remaining pods are kept.
   */
  set(key: string, addresses: readonly string[], pending: readonly string[] = []): void {
    const w = this.workload(key);
    w.sliceReady = [...new Set(addresses)].sort();
    w.slicePending = [...new Set(pending)].filter((a) => !w.sliceReady.includes(a)).sort();
    // A probed pod stays ready while the slice still lists it as starting; once the slice says
    // ready (or drops it) the probe has nothing left to add.
    for (const a of w.probed) if (!w.slicePending.includes(a)) w.probed.delete(a);
    this.refresh(w);
  }

  endpoints(key: string): readonly string[] {
    return this.workloads.get(key)?.addresses ?? [];
  }

  pending(key: string): readonly string[] {
    const w = this.workloads.get(key);
    return w ? w.slicePending.filter((a) => !w.probed.has(a)) : [];
  }

  markReady(key: string, address: string): void {
    const w = this.workloads.get(key);
    if (!w || !w.slicePending.includes(address) || w.probed.has(address)) return;
    w.probed.add(address);
    this.refresh(w);
  }

  private refresh(w: Workload): void {
    const next = [...new Set([...w.sliceReady, ...w.probed])].sort();
    if (next.length === w.addresses.length && next.every((a, i) => a === w.addresses[i])) return;
    w.addresses = next;
    this.notify(w);
  }

  acquire(key: string, capacityPerPod: number, exclude?: ReadonlySet<string>): Lease | undefined {
    const w = this.workloads.get(key);
    if (!w || w.addresses.length === 0) return undefined;
    const n = w.addresses.length;
    let best: string | undefined;
    let bestLoad = Infinity;
    for (let i = 0; i < n; i++) {
      const address = w.addresses[(w.next + i) % n] as string;
      if (exclude?.has(address)) continue;
      const load = w.outstanding.get(address) ?? 0;
      if (load < capacityPerPod && load < bestLoad) {
        best = address;
        bestLoad = load;
      }
    }
    if (best === undefined) return undefined;
    w.next = (w.next + 1) % n;
    const address = best;
    w.outstanding.set(address, bestLoad + 1);
    let released = false;
    return {
      address,
      release: () => {
        if (released) return;
        released = true;
        const left = (w.outstanding.get(address) ?? 1) - 1;
        if (left <= 0) w.outstanding.delete(address);
        else w.outstanding.set(address, left);
        this.notify(w);
      },
    };
  }

  changed(key: string, signal?: AbortSignal): Promise<void> {
    const w = this.workload(key);
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = (): void => {
        w.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      w.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  outstanding(key: string): number {
    let total = 0;
    for (const n of this.workloads.get(key)?.outstanding.values() ?? []) total += n;
    return total;
  }

  private notify(w: Workload): void {
    for (const wake of [...w.waiters]) wake();
  }
}
