import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { hashOf } from '../../api/nats-naming.js';
import type { InvokeOutcome } from '../../api/outcomes.js';
import type { Decision } from './policy.js';

/**
 * "Invoked, outcome X": what the dispatcher keeps about an event whose function ran but whose
 * outcome could not be made durable (the retry publish, the destination and the dead-letter
 * write failed, e.g. a full store). The event is nak'ed; when it comes back, to this replica or
 * another, the record says the invocation already finished, so only the settle step is tried
 * again (retry publish / destination / dead letter, then ack), never the function.
 *
 * - **Where.** A KV bucket of the platform account (`sluice-async-settle`), which tenants cannot
 *   reach (their accounts are separate), plus a bounded copy in this replica's memory for when
 *   even the bucket cannot be written (the same full store).
 * - **Key.** A hash of (namespace, function, event id, stream sequence): one message, one record.
 *   The value names them again and is used only when all four match the delivered message, so a
 *   record never applies to another function's or another namespace's event (a reused sequence
 *   after a stream was recreated included).
 * - **Bound.** Written only when a settle fails (the happy path writes nothing), one per message
 *   (so per function at most its consumer's max_ack_pending at a time: a nak'ed message stays
 *   pending), purged once the event is settled, and expired by the bucket's TTL (default 7 h:
 *   longer than an event may live). A size cap can be set (`maxBytes`; writes beyond it fail and
 *   only the memory copy is kept); by default none, like the platform's other streams, because a
 *   stream's max_bytes is reserved against the server's store.
 */
export type SettleDecision = Extract<Decision, { kind: 'retry' | 'succeed' | 'fail' }>;

export interface SettleRecord {
  namespace: string;
  function: string;
  eventId: string;
  seq: number;
  decision: SettleDecision;
  /** The invocation's outcome (absent for failures decided before any invocation). */
  outcome?: InvokeOutcome;
}

/** Which message a record is for. */
export type SettleTarget = Pick<SettleRecord, 'namespace' | 'function' | 'eventId' | 'seq'>;

export function settleKey(t: SettleTarget): string {
  return `e.${hashOf(`${t.namespace}/${t.function}/${t.eventId}@${t.seq}`, 32)}`;
}

const VERSION = 1;

/** The record as bytes: one line of JSON, then the outcome's payload as it was (no base64). */
export function encodeSettle(r: SettleRecord): Buffer {
  const { outcome, ...rest } = r;
  let payload: Buffer = Buffer.alloc(0);
  let meta: Record<string, unknown> | undefined;
  if (outcome) {
    if ('payload' in outcome) {
      const { payload: p, ...o } = outcome;
      payload = p;
      meta = { ...o, payloadLength: p.length };
    } else {
      meta = { ...outcome };
    }
  }
  const head = JSON.stringify({ v: VERSION, ...rest, ...(meta ? { outcome: meta } : {}) });
  return Buffer.concat([Buffer.from(head), Buffer.from('\n'), payload]);
}

/** The record, or undefined when the bytes are not one (another version, truncated). */
export function decodeSettle(b: Uint8Array): SettleRecord | undefined {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const nl = buf.indexOf(0x0a);
  if (nl < 0) return undefined;
  let head: Record<string, unknown>;
  try {
    head = JSON.parse(buf.subarray(0, nl).toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const { v, outcome, ...rest } = head;
  if (v !== VERSION) return undefined;
  const r = rest as unknown as SettleRecord;
  if (
    typeof r.namespace !== 'string' ||
    typeof r.function !== 'string' ||
    typeof r.eventId !== 'string' ||
    typeof r.seq !== 'number' ||
    typeof r.decision !== 'object'
  ) {
    return undefined;
  }
  if (outcome && typeof outcome === 'object') {
    const { payloadLength, ...o } = outcome as Record<string, unknown>;
    const payload = Buffer.from(buf.subarray(nl + 1));
    if (typeof payloadLength === 'number') {
      if (payload.length !== payloadLength) return undefined;
      r.outcome = { ...o, payload } as unknown as InvokeOutcome;
    } else {
      r.outcome = o as unknown as InvokeOutcome;
    }
  }
  return r;
}

/** True when the record was written for this very message. */
export function settleMatches(r: SettleRecord, t: SettleTarget): boolean {
  return (
    r.namespace === t.namespace && r.function === t.function && r.eventId === t.eventId && r.seq === t.seq
  );
}

/** Durable storage of the records (a KV bucket; a fake in tests). */
export interface SettleStore {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
  remove(key: string): Promise<void>;
}

export interface SettleBucketSettings {
  bucket: string;
  replicas: number;
  /** How long a record is kept (ms). */
  ttlMs: number;
  /** Size cap of the bucket (bytes; -1 none; a cap is reserved against the server's store). */
  maxBytes: number;
}

export const DEFAULT_SETTLE_BUCKET: SettleBucketSettings = {
  bucket: 'sluice-async-settle',
  replicas: 1,
  ttlMs: 7 * 3600 * 1000,
  maxBytes: -1,
};

/** The records in a KV bucket of the platform account (created on first use, and again if lost). */
export class KvSettleStore implements SettleStore {
  private kv: Promise<KV> | undefined;

  constructor(
    private readonly js: JetStreamClient,
    private readonly settings: SettleBucketSettings,
  ) {}

  /** Creates the bucket (or opens it with its settings brought up to date). */
  open(): Promise<KV> {
    this.kv ??= new Kvm(this.js)
      .create(this.settings.bucket, {
        history: 1,
        replicas: this.settings.replicas,
        ttl: this.settings.ttlMs,
        max_bytes: this.settings.maxBytes,
        description: 'Sluice async events whose function ran but whose outcome is not yet settled',
      })
      .catch((err: unknown) => {
        this.kv = undefined;
        throw err;
      });
    return this.kv;
  }

  private async call<T>(f: (kv: KV) => Promise<T>): Promise<T> {
    try {
      return await f(await this.open());
    } catch (err) {
      // The bucket was deleted: create it again next time.
      if (err instanceof Error && /stream not found|no responders/i.test(err.message)) this.kv = undefined;
      throw err;
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const e = await this.call((kv) => kv.get(key));
    return e && e.operation === 'PUT' ? e.value : undefined;
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    await this.call((kv) => kv.put(key, value));
  }

  async remove(key: string): Promise<void> {
    await this.call((kv) => kv.purge(key));
  }
}

/** A size-bounded insertion-ordered map of records (the in-memory copy). */
class MemoryCopy {
  private readonly items = new Map<string, Buffer>();
  private bytes = 0;
  constructor(
    private readonly maxItems: number,
    private readonly maxBytes: number,
  ) {}
  get(key: string): Buffer | undefined {
    return this.items.get(key);
  }
  set(key: string, v: Buffer): void {
    this.delete(key);
    if (v.length > this.maxBytes) return;
    this.items.set(key, v);
    this.bytes += v.length;
    while (this.items.size > this.maxItems || this.bytes > this.maxBytes) {
      const [k] = this.items.keys();
      this.delete(k as string);
    }
  }
  delete(key: string): void {
    const v = this.items.get(key);
    if (!v) return;
    this.items.delete(key);
    this.bytes -= v.length;
  }
}

export interface SettleLedgerOptions {
  /** Durable records; without one only this replica's memory remembers. */
  store?: SettleStore;
  memoryItems?: number;
  memoryBytes?: number;
}

/** The dispatcher's view: remember a finished invocation, look it up on redelivery, forget it once settled. */
export class SettleLedger {
  private readonly memory: MemoryCopy;
  private readonly store: SettleStore | undefined;

  constructor(o: SettleLedgerOptions = {}) {
    this.store = o.store;
    this.memory = new MemoryCopy(o.memoryItems ?? 1000, o.memoryBytes ?? 64 * 1024 * 1024);
  }

  /**
   * Remembers the record: in memory always, durably when the store takes it. Returns whether the
   * durable write succeeded (false: only this replica will know, until it restarts).
   */
  async remember(r: SettleRecord): Promise<boolean> {
    const key = settleKey(r);
    const bytes = encodeSettle(r);
    this.memory.set(key, bytes);
    if (!this.store) return false;
    try {
      await this.store.put(key, bytes);
      return true;
    } catch {
      return false;
    }
  }

  /** The record of this message, if its invocation finished before. Throws when the store cannot be read. */
  async lookup(t: SettleTarget, durable: boolean): Promise<SettleRecord | undefined> {
    const key = settleKey(t);
    const local = this.memory.get(key);
    const bytes = local ?? (durable && this.store ? await this.store.get(key) : undefined);
    const r = bytes ? decodeSettle(bytes) : undefined;
    return r && settleMatches(r, t) ? r : undefined;
  }

  /** Forgets the record once the event is settled (best effort: the bucket's TTL removes the rest). */
  async forget(t: SettleTarget): Promise<void> {
    const key = settleKey(t);
    this.memory.delete(key);
    await this.store?.remove(key).catch(() => undefined);
  }
}
