import { describe, expect, it } from 'vitest';
import {
  accountAsync,
  accountQueue,
  accountStream,
  type LedgerEntry,
  type StreamRecord,
} from '../e2e/support/chaos-ledger.js';

const run = (w: LedgerEntry['w'], x: string, t: number, more: Partial<LedgerEntry>): LedgerEntry => ({
  w,
  x,
  t,
  ...more,
});

describe('accountAsync', () => {
  it.each([
    {
      name: 'one run, one success: accounted once',
      entries: [run('async', 'a', 1, { id: 1, attempt: 1 })],
      finals: [{ id: 1, kind: 'success' as const, at: 2 }],
      want: { lost: [], duplicates: 0, executedAfterFinal: [], succeeded: 1 },
    },
    {
      name: 'no final state: lost',
      entries: [run('async', 'a', 1, { id: 1, attempt: 1 })],
      finals: [],
      want: { lost: [1], duplicates: 0 },
    },
    {
      name: 'a retry after an error: a duplicate by retry',
      entries: [run('async', 'a', 1, { id: 1, attempt: 1 }), run('async', 'b', 3, { id: 1, attempt: 2 })],
      finals: [{ id: 1, kind: 'success' as const, at: 4 }],
      want: { duplicates: 1, duplicatesByCause: { retry: 1, redelivery: 0 }, executedAfterFinal: [] },
    },
    {
      name: 'the same attempt twice, the second after the record: a redelivery, executed after final',
      entries: [run('async', 'a', 1, { id: 1, attempt: 1 }), run('async', 'b', 9, { id: 1, attempt: 1 })],
      finals: [{ id: 1, kind: 'success' as const, at: 4 }],
      want: {
        duplicates: 1,
        duplicatesByCause: { retry: 0, redelivery: 1 },
        executedAfterFinal: [{ id: 1, at: 9, final: 4 }],
      },
    },
    {
      name: "the handler's own ledger retry (same execution id) is one execution",
      entries: [run('async', 'a', 1, { id: 1, attempt: 1 }), run('async', 'a', 2, { id: 1, attempt: 1 })],
      finals: [{ id: 1, kind: 'deadLetter' as const, at: 4 }],
      want: { duplicates: 0, deadLettered: 1 },
    },
  ])('$name', ({ entries, finals, want }) => {
    expect(accountAsync(new Set([1]), entries, finals)).toMatchObject(want);
  });
});

describe('accountQueue', () => {
  it.each([
    {
      name: 'processed and failed records are accounted; a missing one is lost',
      entries: [run('queue', 'a', 1, { id: 1, rc: 1 })],
      failed: [2],
      want: { processed: 1, failed: 1, lost: [3], duplicates: 0 },
    },
    {
      name: 'a redelivery has a higher receive count',
      entries: [
        run('queue', 'a', 1, { id: 1, rc: 1 }),
        run('queue', 'b', 2, { id: 1, rc: 2 }),
        run('queue', 'c', 3, { id: 2, rc: 1 }),
        run('queue', 'd', 3, { id: 2, rc: 1 }),
      ],
      failed: [3],
      want: { duplicates: 2, duplicatesByCause: { redelivery: 1, sameDelivery: 1 }, lost: [] },
    },
  ])('$name', ({ entries, failed, want }) => {
    expect(accountQueue(new Set([1, 2, 3]), entries, failed)).toMatchObject(want);
  });
});

describe('accountStream', () => {
  const accepted: StreamRecord[] = [
    { key: 'a', seq: 0, sseq: 1 },
    { key: 'b', seq: 0, sseq: 2 },
    { key: 'a', seq: 1, sseq: 3 },
    { key: 'a', seq: 2, sseq: 4 },
  ];
  const s = (x: string, key: string, seq: number): LedgerEntry => run('stream', x, 0, { key, seq });
  it.each([
    {
      name: 'in order: no violation',
      entries: [s('1', 'a', 0), s('1', 'b', 0), s('2', 'a', 1), s('2', 'a', 2)],
      failed: [],
      want: { processed: 4, lost: [], redeliveries: 0, orderViolations: [] },
    },
    {
      name: 'a replay from the checkpoint: redeliveries, no violation',
      entries: [
        s('1', 'a', 0),
        s('1', 'a', 1),
        s('2', 'a', 0),
        s('2', 'a', 1),
        s('2', 'a', 2),
        s('3', 'b', 0),
      ],
      failed: [],
      want: { processed: 4, redeliveries: 2, orderViolations: [] },
    },
    {
      name: 'a record skipped ahead of an earlier one: a violation',
      entries: [s('1', 'a', 0), s('1', 'a', 2), s('2', 'a', 1), s('2', 'b', 0)],
      failed: [],
      want: { orderViolations: [{ key: 'a', seq: 2, expected: 1 }, expect.anything()] },
    },
    {
      name: 'a record in an onFailure range is skipped, not lost',
      entries: [s('1', 'a', 0), s('1', 'b', 0), s('2', 'a', 2)],
      failed: [{ start: 3, end: 3 }],
      want: { processed: 3, failed: 1, lost: [], orderViolations: [] },
    },
    {
      name: 'a record never delivered is lost',
      entries: [s('1', 'a', 0), s('1', 'b', 0)],
      failed: [],
      want: {
        lost: [
          { key: 'a', seq: 1, sseq: 3 },
          { key: 'a', seq: 2, sseq: 4 },
        ],
      },
    },
  ])('$name', ({ entries, failed, want }) => {
    expect(accountStream(accepted, entries, failed)).toMatchObject(want);
  });
});
