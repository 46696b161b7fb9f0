import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Batcher, MAX_PAYLOAD_BYTES, payloadBytes, splitBatches, type FlushReason } from './batching.js';

describe('splitBatches', () => {
  it.each([
    { name: 'under both limits', sizes: [10, 10, 10], max: 10, bytes: 1000, want: [[0, 1, 2]] },
    { name: 'by count', sizes: [1, 1, 1, 1, 1], max: 2, bytes: 1000, want: [[0, 1], [2, 3], [4]] },
    { name: 'by bytes', sizes: [40, 40, 40], max: 10, bytes: 100, want: [[0, 1], [2]] },
    { name: 'oversized record alone', sizes: [10, 500, 10], max: 10, bytes: 100, want: [[0], [1], [2]] },
    { name: 'empty', sizes: [], max: 10, bytes: 100, want: [] },
  ])('$name', ({ sizes, max, bytes, want }) => {
    const got = splitBatches(sizes, { maxRecords: max, maxBytes: bytes });
    expect(got).toEqual(want);
    for (const b of got)
      if (b.length > 1) expect(payloadBytes(b.map((i) => sizes[i]!))).toBeLessThanOrEqual(bytes);
  });

  it('6 MB cap: 7 records of 1 MB make two payloads within the limit', () => {
    const mb = 1024 * 1024;
    const got = splitBatches(Array(7).fill(mb), { maxRecords: 100, maxBytes: MAX_PAYLOAD_BYTES });
    expect(got.map((b) => b.length)).toEqual([5, 2]);
  });
});

describe('Batcher', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const make = (o: { max?: number; bytes?: number; windowMs?: number }) => {
    const out: { items: number[]; reason: FlushReason }[] = [];
    const b = new Batcher<number>({
      maxRecords: o.max ?? 10,
      maxBytes: o.bytes ?? 10_000,
      windowMs: o.windowMs ?? 0,
      sizeOf: (n) => n,
      onBatch: (items, reason) => out.push({ items, reason }),
    });
    return { b, out };
  };

  it.each([
    {
      name: 'size reached flushes at once',
      opts: { max: 3, windowMs: 5000 },
      run: (b: Batcher<number>) => [1, 2, 3, 4].forEach((n) => b.add(n)),
      want: [{ items: [1, 2, 3], reason: 'size' }],
    },
    {
      name: 'window flushes a partial batch',
      opts: { max: 10, windowMs: 1000 },
      run: (b: Batcher<number>) => {
        b.add(1);
        vi.advanceTimersByTime(500);
        b.add(2);
        vi.advanceTimersByTime(499);
      },
      want: [],
    },
    {
      name: 'window measured from the first record',
      opts: { max: 10, windowMs: 1000 },
      run: (b: Batcher<number>) => {
        b.add(1);
        vi.advanceTimersByTime(500);
        b.add(2);
        vi.advanceTimersByTime(500);
      },
      want: [{ items: [1, 2], reason: 'window' }],
    },
    {
      name: 'zero window: flush when the source is idle',
      opts: { max: 10, windowMs: 0 },
      run: (b: Batcher<number>) => {
        b.add(1);
        b.add(2);
        b.idle();
        b.idle();
      },
      want: [{ items: [1, 2], reason: 'idle' }],
    },
    {
      name: 'window > 0 ignores idle',
      opts: { max: 10, windowMs: 1000 },
      run: (b: Batcher<number>) => {
        b.add(1);
        b.idle();
      },
      want: [],
    },
    {
      name: 'byte cap flushes before the record that would not fit',
      opts: { max: 10, bytes: 14 + 100 + 1 + 100, windowMs: 1000 },
      run: (b: Batcher<number>) => [100, 100, 100].forEach((n) => b.add(n)),
      want: [{ items: [100, 100], reason: 'bytes' }],
    },
  ])('$name', ({ opts, run, want }) => {
    const { b, out } = make(opts);
    run(b);
    expect(out).toEqual(want);
  });

  it('discard returns what was gathered and stops the window', () => {
    const { b, out } = make({ windowMs: 100 });
    b.add(1);
    expect(b.discard()).toEqual([1]);
    vi.advanceTimersByTime(200);
    expect(out).toEqual([]);
  });
});
