import { ThrottledError } from '../errors.js';
import type { SharedCounter } from './shared.js';

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

/** What the limiter reports besides its decisions. */
export interface LimiterEvents {
  /** The shared counter could not be reached: a reserved limit was enforced per replica instead. */
  fallback(namespace: string, fn: string): void;
}

/**
 * `concurrency.reserved` enforced as ONE number across gateway replicas, and this replica's cap
 * on all calls in flight (the account-level limit, kept local).
 *
 * A function with a reserved limit takes a slot of a semaphore shared by all replicas (a
 * `SharedCounter`: a KV bucket of the platform account, gateway/limits/kv-counter.ts), so a call
 * through any replica is admitted while fewer than `reserved` calls run anywhere, and throttled
 * (429, ReservedFunctionConcurrentInvocationLimitExceeded) only when all of them are in use. The
 * cost is one or two NATS round trips per admission and per release of such a function; functions
 * without a reserved limit never touch it.
 *
 * When the shared counter is unavailable (no NATS, async disabled, errors) the limiter falls back
 * to a per-replica share: each replica admits up to `shareOf(reserved, replicas, index)` of its
 * own calls. Availability first: the sum never exceeds the limit, but one replica can throttle
 * while another has room, and a limit smaller than the replica count leaves some replicas with 0
 * (gateway/README.md).
 */
export class ConcurrencyLimiter {
  private readonly inFlight = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly peers: PeerView,
    /** This replica's cap on all calls in flight (the account-level limit); Infinity for none. */
    private readonly maxInFlight = Infinity,
    private readonly shared?: SharedCounter,
    private readonly events?: LimiterEvents,
  ) {}

  /**
   * Admits one execution of `namespace/fn` or throws ThrottledError; resolves to the release
   * function (which never rejects; awaiting it makes the slot free for the next caller).
   */
  async acquire(namespace: string, fn: string, reserved: number | undefined): Promise<() => Promise<void>> {
    const key = `${namespace}/${fn}`;
    // The local cap first: it needs no round trip, and a call it refuses takes no shared slot.
    if (this.total >= this.maxInFlight) {
      throw new ThrottledError('ConcurrentInvocationLimitExceeded', 'Rate Exceeded.');
    }
    this.total++;
    this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
    let releaseShared = false;
    const undo = (): void => {
      this.total--;
      const left = (this.inFlight.get(key) ?? 1) - 1;
      if (left <= 0) this.inFlight.delete(key);
      else this.inFlight.set(key, left);
    };
    if (reserved !== undefined) {
      let r: boolean | 'unavailable' = 'unavailable';
      try {
        r = this.shared ? await this.shared.tryAcquire(key, reserved) : 'unavailable';
      } catch {
        r = 'unavailable';
      }
      if (r === 'unavailable') {
        if (this.shared) this.events?.fallback(namespace, fn);
        // this call is already counted in inFlight
        if ((this.inFlight.get(key) ?? 0) > shareOf(reserved, this.peers.count(), this.peers.index()))
          r = false;
      } else {
        releaseShared = r;
      }
      if (r === false) {
        undo();
        throw new ThrottledError(
          'ReservedFunctionConcurrentInvocationLimitExceeded',
          `Rate Exceeded. The function's reserved concurrency (${reserved}) is in use.`,
        );
      }
    }
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      undo();
      if (releaseShared) await this.shared?.release(key).catch(() => undefined);
    };
  }

  /** Calls of one function in flight through this replica. */
  current(namespace: string, fn: string): number {
    return this.inFlight.get(`${namespace}/${fn}`) ?? 0;
  }
}
