/**
 * The state of one function's shared reserved-concurrency semaphore and the pure decisions on it
 * (no clocks, no clients): what each gateway replica holds, and whether one more call fits.
 */

/** One function's semaphore: the calls each replica holds, and when that replica last wrote. */
export interface Holders {
  holders: Record<string, { n: number; at: number }>;
}

/** A counter shared by all gateway replicas (a NATS KV bucket, or a fake in tests). */
export interface SharedCounter {
  /**
   * Takes one of `limit` slots of `key` for this replica: true if taken, false if all are in use,
   * 'unavailable' if the shared state cannot be reached (the caller falls back to a local limit).
   */
  tryAcquire(key: string, limit: number): Promise<boolean | 'unavailable'>;
  /** Gives back one slot taken by tryAcquire; never throws (a lost release ages out). */
  release(key: string): Promise<void>;
}

/** Decodes a stored value; anything unreadable counts as empty. */
export function decodeHolders(b: Uint8Array | undefined): Holders {
  if (!b || b.length === 0) return { holders: {} };
  try {
    const v = JSON.parse(Buffer.from(b).toString('utf8')) as Partial<Holders>;
    return v && typeof v.holders === 'object' && v.holders !== null
      ? { holders: v.holders }
      : { holders: {} };
  } catch {
    return { holders: {} };
  }
}

export function encodeHolders(h: Holders): Uint8Array {
  return Buffer.from(JSON.stringify(h));
}

const fresh = (at: number, now: number, ttlMs: number): boolean => now - at <= ttlMs;

/**
 * Calls held by replicas that wrote within `ttlMs` (a crashed replica's calls stop counting),
 * leaving out `except` (this replica, whose own count it knows exactly).
 */
export function inUse(h: Holders, now: number, ttlMs: number, except?: string): number {
  let sum = 0;
  for (const [id, { n, at }] of Object.entries(h.holders)) {
    if (id !== except && n > 0 && fresh(at, now, ttlMs)) sum += n;
  }
  return sum;
}

/**
 * The state with `replica` holding `n` calls as of `now`; stale and empty entries of any replica
 * are dropped so the value stays small.
 */
export function withOwn(h: Holders, replica: string, n: number, now: number, ttlMs: number): Holders {
  const holders: Holders['holders'] = {};
  for (const [id, e] of Object.entries(h.holders)) {
    if (id !== replica && e.n > 0 && fresh(e.at, now, ttlMs)) holders[id] = e;
  }
  if (n > 0) holders[replica] = { n, at: now };
  return { holders };
}

/**
 * The acquire decision for a replica that holds `held` calls: the state to write, or undefined
 * when the other replicas' fresh calls and its own already fill `limit`.
 */
export function admit(
  h: Holders,
  replica: string,
  held: number,
  limit: number,
  now: number,
  ttlMs: number,
): Holders | undefined {
  if (inUse(h, now, ttlMs, replica) + held >= limit) return undefined;
  return withOwn(h, replica, held + 1, now, ttlMs);
}
