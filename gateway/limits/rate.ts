/**
 * Token buckets by key — a client address, a function — with injected time (no clocks inside, so
 * tests are tables). A key holds `burst` tokens and gains `ratePerSecond` per second up to
 * `burst`; a full bucket is the same as no bucket, so the map forgets full buckets first when it
 * reaches `maxKeys` (then the least recently used), which keeps memory bounded whatever the keys.
 */
export interface RateSettings {
  ratePerSecond: number;
  burst: number;
}

export class KeyedTokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(
    private readonly settings: RateSettings,
    opts: { maxKeys?: number; now?: () => number } = {},
  ) {
    this.maxKeys = opts.maxKeys ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  private level(key: string): number {
    const b = this.buckets.get(key);
    if (!b) return this.settings.burst;
    const refill = ((this.now() - b.at) / 1000) * this.settings.ratePerSecond;
    return Math.min(this.settings.burst, b.tokens + refill);
  }

  /** Whether `key` has a whole token left (nothing is taken). */
  available(key: string): boolean {
    return this.level(key) >= 1;
  }

  /** Takes a token from `key`'s bucket; false (and nothing taken) when none is left. */
  take(key: string): boolean {
    const tokens = this.level(key);
    if (tokens < 1) return false;
    this.buckets.delete(key);
    this.buckets.set(key, { tokens: tokens - 1, at: this.now() });
    if (this.buckets.size > this.maxKeys) this.evict();
    return true;
  }

  /** Seconds until `key` has a token again (at least 1, for Retry-After). */
  retryAfterSeconds(key: string): number {
    const missing = 1 - this.level(key);
    if (missing <= 0 || this.settings.ratePerSecond <= 0) return 1;
    return Math.max(1, Math.ceil(missing / this.settings.ratePerSecond));
  }

  get size(): number {
    return this.buckets.size;
  }

  private evict(): void {
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= this.maxKeys) return;
      if (this.level(key) >= this.settings.burst) this.buckets.delete(key);
    }
    while (this.buckets.size > this.maxKeys) {
      const oldest = this.buckets.keys().next().value;
      if (oldest === undefined) return;
      this.buckets.delete(oldest);
    }
  }
}
