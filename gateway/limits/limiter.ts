import { ThrottledError } from '../errors.js';

/** How many gateway replicas share the limits, and which one this is. */
export interface PeerView {
  /** Ready gateway replicas, this one included (≥ 1). */
  count(): number;
  /** This replica's position among them, 0-based and stable while the set is unchanged. */
  index(): number;
}

/** A fixed view: one replica (the default), or given numbers in tests. */
export class StaticPeers implements PeerView {
  constructor(
    private readonly n = 1,
    private readonly i = 0,
  ) {}
  count(): number {
    return this.n;
  }
  index(): number {
    return this.i;
  }
}

/**
 * This replica's share of a limit split across `replicas` replicas: the shares add up to exactly
 * `limit` (the first `limit % replicas` replicas get one more), so together the gateways never
 * admit more than the limit.
 */
export function shareOf(limit: number, replicas: number, index: number): number {
  const n = Math.max(1, replicas);
  const i = Math.min(Math.max(0, index), n - 1);
  return Math.floor(limit / n) + (i < limit % n ? 1 : 0);
}

/**
 * `concurrency.reserved` enforced across gateway replicas without a shared counter: each replica
 * counts its own in-flight calls per function and admits up to its share of the limit, the
 * share being recomputed from the number of ready gateway replicas on every call.
 *
 * Trade-off (documented in gateway/README.md): no extra round trip and no shared state on the
 * hot path, and the sum of admitted calls never exceeds the limit; but a replica can throttle
 * while another has spare share when load is unevenly spread (the Service spreads connections,
 * so this shows mostly at small limits), and a limit smaller than the number of replicas leaves
 * some replicas with a share of 0.
 */
export class ConcurrencyLimiter {
  private readonly inFlight = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly peers: PeerView,
    /** This replica's cap on all calls in flight (the account-level limit); Infinity for none. */
    private readonly maxInFlight = Infinity,
  ) {}

  /** Admits one execution of `namespace/fn` or throws ThrottledError; returns the release function. */
  acquire(namespace: string, fn: string, reserved: number | undefined): () => void {
    const key = `${namespace}/${fn}`;
    const current = this.inFlight.get(key) ?? 0;
    if (reserved !== undefined) {
      const share = shareOf(reserved, this.peers.count(), this.peers.index());
      if (current >= share) {
        throw new ThrottledError(
          'ReservedFunctionConcurrentInvocationLimitExceeded',
          `Rate Exceeded. The function's reserved concurrency (${reserved}) is in use.`,
        );
      }
    }
    if (this.total >= this.maxInFlight) {
      throw new ThrottledError('ConcurrentInvocationLimitExceeded', 'Rate Exceeded.');
    }
    this.inFlight.set(key, current + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.inFlight.get(key) ?? 1) - 1;
      if (left <= 0) this.inFlight.delete(key);
      else this.inFlight.set(key, left);
    };
  }

  /** Calls of one function in flight through this replica. */
  current(namespace: string, fn: string): number {
    return this.inFlight.get(`${namespace}/${fn}`) ?? 0;
  }
}
