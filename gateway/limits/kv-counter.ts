import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { hashOf } from '../../api/nats-naming.js';
import { admit, decodeHolders, encodeHolders, withOwn, type Holders, type SharedCounter } from './shared.js';

export interface ConcurrencyBucketSettings {
  bucket: string;
  /** JetStream replicas of the bucket (1, or 3 with a clustered NATS). */
  replicas: number;
  /** A replica's calls stop counting this long after it last wrote (it crashed or lost NATS). */
  ttlMs: number;
  /** How often a replica rewrites the entries of the calls it holds (well under ttlMs). */
  heartbeatMs: number;
  /** Compare-and-set attempts of one acquire or release before giving up. */
  maxAttempts: number;
  /**
   * After an error other than a conflict (NATS down, a timeout), the counter answers
   * 'unavailable' at once for this long, so calls fall back without each waiting for a timeout.
   */
  downForMs: number;
}

export const DEFAULT_CONCURRENCY_BUCKET: ConcurrencyBucketSettings = {
  bucket: 'sluice-concurrency',
  replicas: 1,
  ttlMs: 10_000,
  heartbeatMs: 3_000,
  maxAttempts: 25,
  downForMs: 2_000,
};

/** The KV key of one function's semaphore. */
export const concurrencyKey = (key: string): string => `c.${hashOf(key, 32)}`;

/** JetStream's compare-and-set refusal: another replica wrote the key first. */
function isConflict(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/**
 * Reserved concurrency as one number across gateway replicas: one key per function in a KV
 * bucket of the platform account, `{ holders: { [replica]: { n, at } } }`, changed only by
 * compare-and-set (get, decide, `update` at the revision read; retried on a conflict). Calls of
 * one function through this replica are serialised here, so only replicas race each other.
 * A heartbeat rewrites this replica's entries while it holds calls, so `at` stays fresh; a
 * replica that stops writing (crashed, cut off) stops counting after `ttlMs`.
 *
 * Until `attach` (NATS not connected yet), on any error other than a conflict and for `downForMs`
 * after it, the answer is 'unavailable' and the limiter falls back to its per-replica share. A
 * release that could not be written is corrected by this replica's next write of the key (it
 * writes the count it holds, not a difference) or ages out.
 */
export class KvSharedCounter implements SharedCounter {
  private kv: KV | undefined;
  /** Calls this replica holds per key (the truth it writes). */
  private readonly held = new Map<string, number>();
  /** The tail of each key's queue of operations. */
  private readonly queues = new Map<string, Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  /** Until when the bucket is taken to be unreachable (the last error plus downForMs). */
  private downUntil = 0;

  constructor(
    private readonly replica: string,
    private readonly settings: ConcurrencyBucketSettings = DEFAULT_CONCURRENCY_BUCKET,
    private readonly now: () => number = Date.now,
  ) {}

  /** Creates the bucket (or opens it with its settings brought up to date) and starts the heartbeat. */
  async attach(js: JetStreamClient): Promise<void> {
    this.kv = await new Kvm(js).create(this.settings.bucket, {
      history: 1,
      replicas: this.settings.replicas,
      // keys of functions no longer called age out; a held call rewrites its key every heartbeat
      ttl: 3600 * 1000,
      description: 'Sluice reserved concurrency: calls in flight per function and gateway replica',
    });
    this.timer ??= setInterval(() => void this.heartbeat(), this.settings.heartbeatMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.kv = undefined;
  }

  tryAcquire(key: string, limit: number): Promise<boolean | 'unavailable'> {
    return this.serial(key, async () => {
      const held = this.held.get(key) ?? 0;
      const r = await this.write(key, (h) =>
        admit(h, this.replica, held, limit, this.now(), this.settings.ttlMs),
      );
      if (r === true) this.held.set(key, held + 1);
      return r;
    });
  }

  release(key: string): Promise<void> {
    return this.serial(key, async () => {
      const n = Math.max(0, (this.held.get(key) ?? 0) - 1);
      if (n === 0) this.held.delete(key);
      else this.held.set(key, n);
      // A release that cannot be written is corrected by the next write or ages out.
      await this.write(key, (h) => withOwn(h, this.replica, n, this.now(), this.settings.ttlMs));
    });
  }

  /** Rewrites the entries of the keys this replica holds calls of, so they stay fresh. */
  async heartbeat(): Promise<void> {
    await Promise.all(
      [...this.held.keys()].map((key) =>
        this.serial(key, () =>
          this.write(key, (h) =>
            withOwn(h, this.replica, this.held.get(key) ?? 0, this.now(), this.settings.ttlMs),
          ),
        ),
      ),
    );
  }

  private serial<T>(key: string, f: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(key) ?? Promise.resolve();
    const next = prev.then(f, f);
    const tail = next.catch(() => undefined);
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return next;
  }

  /**
   * One compare-and-set loop: true when `decide`'s state was written, false when it declined,
   * 'unavailable' when the bucket could not be reached or the conflicts did not end.
   */
  private async write(
    key: string,
    decide: (h: Holders) => Holders | undefined,
  ): Promise<boolean | 'unavailable'> {
    const kv = this.kv;
    if (!kv || this.now() < this.downUntil) return 'unavailable';
    const k = concurrencyKey(key);
    try {
      for (let attempt = 0; attempt < this.settings.maxAttempts; attempt++) {
        const e = await kv.get(k);
        const live = e && e.operation === 'PUT';
        const next = decide(decodeHolders(live ? e.value : undefined));
        if (!next) return false;
        try {
          if (e) await kv.update(k, encodeHolders(next), e.revision);
          else await kv.create(k, encodeHolders(next));
          return true;
        } catch (err) {
          if (!isConflict(err)) throw err;
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, 1 + attempt * 2)));
        }
      }
      return 'unavailable';
    } catch {
      this.downUntil = this.now() + this.settings.downForMs;
      return 'unavailable';
    }
  }
}
