import { SYNC_PAYLOAD_LIMIT } from '../api/limits.js';
import { ENVELOPE_BYTES } from './records.js';

/** Largest invocation payload: the sync limit (api/limits.ts). */
export const MAX_PAYLOAD_BYTES = SYNC_PAYLOAD_LIMIT;

export interface BatchLimits {
  /** Most records per invocation (`batchSize`). */
  maxRecords: number;
  /** Most bytes of the `{"Records":[...]}` payload. */
  maxBytes: number;
}

/** Bytes of a payload holding records of these serialized sizes. */
export function payloadBytes(sizes: readonly number[]): number {
  if (sizes.length === 0) return ENVELOPE_BYTES;
  return ENVELOPE_BYTES + sizes.reduce((a, b) => a + b, 0) + sizes.length - 1;
}

/**
 * Splits records (by their serialized sizes, in order) into consecutive batches that respect
 * both limits. A record too large for any payload travels alone (its invocation fails with
 * RequestTooLarge and the record takes the failure path).
 */
export function splitBatches(sizes: readonly number[], limits: BatchLimits): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  let bytes = ENVELOPE_BYTES;
  sizes.forEach((size, i) => {
    const added = cur.length === 0 ? size : size + 1;
    if (cur.length > 0 && (cur.length >= limits.maxRecords || bytes + added > limits.maxBytes)) {
      out.push(cur);
      cur = [];
      bytes = ENVELOPE_BYTES;
    }
    cur.push(i);
    bytes += cur.length === 1 ? size : size + 1;
  });
  if (cur.length > 0) out.push(cur);
  return out;
}

export interface BatcherOptions<T> extends BatchLimits {
  /** `maximumBatchingWindowSeconds` in ms: how long the first record of a batch may wait. 0: flush when idle. */
  windowMs: number;
  sizeOf: (item: T) => number;
  /** Receives each complete batch (never empty). */
  onBatch: (items: T[], reason: FlushReason) => void;
}

export type FlushReason = 'size' | 'bytes' | 'window' | 'idle' | 'close';

/**
 * Gathers records into batches: a batch is handed on when it holds `maxRecords`, when the next
 * record would push it past `maxBytes`, or when its first record has waited `windowMs`. With a
 * window of 0 the batch goes as soon as the source pauses (`idle()`), like a poll that takes
 * whatever is there.
 */
export class Batcher<T> {
  private items: T[] = [];
  private bytes = ENVELOPE_BYTES;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: BatcherOptions<T>) {}

  get size(): number {
    return this.items.length;
  }

  /** The records gathered but not yet handed on. */
  get pending(): readonly T[] {
    return this.items;
  }

  add(item: T): void {
    const size = this.opts.sizeOf(item);
    const added = this.items.length === 0 ? size : size + 1;
    if (this.items.length > 0 && this.bytes + added > this.opts.maxBytes) this.flush('bytes');
    this.items.push(item);
    this.bytes += this.items.length === 1 ? size : size + 1;
    if (this.items.length >= this.opts.maxRecords) {
      this.flush('size');
      return;
    }
    if (this.items.length === 1 && this.opts.windowMs > 0) {
      this.timer = setTimeout(() => this.flush('window'), this.opts.windowMs);
    }
  }

  /** The source has nothing more right now: with a zero window, hand on what there is. */
  idle(): void {
    if (this.opts.windowMs === 0 && this.items.length > 0) this.flush('idle');
  }

  flush(reason: FlushReason = 'close'): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.items.length === 0) return;
    const batch = this.items;
    this.items = [];
    this.bytes = ENVELOPE_BYTES;
    this.opts.onBatch(batch, reason);
  }

  /** Drops what is gathered (the records will be redelivered) and stops the timer. */
  discard(): T[] {
    clearTimeout(this.timer);
    this.timer = undefined;
    const dropped = this.items;
    this.items = [];
    this.bytes = ENVELOPE_BYTES;
    return dropped;
  }
}
