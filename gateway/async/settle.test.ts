import { describe, expect, it } from 'vitest';
import {
  decodeSettle,
  encodeSettle,
  SettleLedger,
  settleKey,
  settleMatches,
  type SettleRecord,
  type SettleStore,
} from './settle.js';

const target = { namespace: 'shop', function: 'orders', eventId: 'ev-1', seq: 42 };
const rec = (o: Partial<SettleRecord> = {}): SettleRecord => ({
  ...target,
  decision: { kind: 'succeed' },
  outcome: { kind: 'success', payload: Buffer.from('{"n":1}'), executedVersion: '$LATEST' },
  ...o,
});

/** A store that fails the next `failing` calls of each kind, then keeps values in a map. */
class FakeStore implements SettleStore {
  readonly values = new Map<string, Uint8Array>();
  failPuts = 0;
  failGets = 0;
  get(key: string): Promise<Uint8Array | undefined> {
    if (this.failGets-- > 0) return Promise.reject(new Error('unreachable'));
    return Promise.resolve(this.values.get(key));
  }
  put(key: string, value: Uint8Array): Promise<void> {
    if (this.failPuts-- > 0) return Promise.reject(new Error('insufficient storage resources'));
    this.values.set(key, value);
    return Promise.resolve();
  }
  remove(key: string): Promise<void> {
    this.values.delete(key);
    return Promise.resolve();
  }
}

describe('settle records', () => {
  it.each([
    { name: 'success with its payload', r: rec() },
    {
      name: 'function error, scheduled retry',
      r: rec({
        decision: { kind: 'retry', attempt: 2, delayMs: 60_000 },
        outcome: {
          kind: 'function_error',
          errorType: 'Bad',
          payload: Buffer.from('{"errorType":"Bad"}'),
          executedVersion: '3',
        },
      }),
    },
    {
      name: 'binary payload with newlines survives byte for byte',
      r: rec({
        outcome: { kind: 'success', payload: Buffer.from([0, 10, 255, 10, 13]), executedVersion: '1' },
      }),
    },
    {
      name: 'rejected (no payload)',
      r: rec({
        decision: { kind: 'fail', condition: 'RetriesExhausted', reason: 'RequestRejected', invokeCount: 1 },
        outcome: { kind: 'rejected', statusCode: 413, errorType: 'RequestTooLargeException', message: 'big' },
      }),
    },
    {
      name: 'failed before any invocation (no outcome)',
      r: rec({
        decision: {
          kind: 'fail',
          condition: 'ZeroReservedConcurrency',
          reason: 'ZeroReservedConcurrency',
          invokeCount: 0,
        },
        outcome: undefined,
      }),
    },
  ])('round trip: $name', ({ r }) => {
    const { outcome, ...rest } = r;
    expect(decodeSettle(encodeSettle(r))).toEqual(outcome ? { ...rest, outcome } : rest);
  });

  it.each([
    { name: 'no header line', bytes: Buffer.from('{"v":1}') },
    { name: 'not JSON', bytes: Buffer.from('nope\n') },
    { name: 'another version', bytes: Buffer.from(JSON.stringify({ ...target, v: 2, decision: {} }) + '\n') },
    { name: 'truncated payload', bytes: encodeSettle(rec()).subarray(0, -1) },
    { name: 'missing fields', bytes: Buffer.from('{"v":1,"namespace":"shop"}\n') },
  ])('not a record: $name', ({ bytes }) => expect(decodeSettle(bytes)).toBeUndefined());

  it.each([
    { name: 'the same message', other: {}, want: true },
    { name: 'another namespace', other: { namespace: 'evil' }, want: false },
    { name: 'another function', other: { function: 'other' }, want: false },
    {
      name: 'another event at the same sequence (stream recreated)',
      other: { eventId: 'ev-2' },
      want: false,
    },
    { name: 'another sequence', other: { seq: 43 }, want: false },
  ])('applies only to its own message: $name', ({ other, want }) => {
    expect(settleMatches(rec(), { ...target, ...other })).toBe(want);
    expect(settleKey({ ...target, ...other }) === settleKey(target)).toBe(want);
  });

  it('keys are valid KV keys', () => expect(settleKey(target)).toMatch(/^[-/_=.a-zA-Z0-9]+$/));
});

describe('SettleLedger', () => {
  it('remembers durably, finds the record on another replica, forgets it once settled', async () => {
    const store = new FakeStore();
    const here = new SettleLedger({ store });
    const elsewhere = new SettleLedger({ store });
    expect(await here.remember(rec())).toBe(true);
    expect(await elsewhere.lookup(target, true)).toEqual(rec());
    expect(await elsewhere.lookup(target, false)).toBeUndefined(); // not read from the store
    await elsewhere.forget(target);
    expect(store.values.size).toBe(0);
  });

  it('a full store: the record is kept in this replica’s memory', async () => {
    const store = new FakeStore();
    store.failPuts = 1;
    const ledger = new SettleLedger({ store });
    expect(await ledger.remember(rec())).toBe(false);
    expect(await ledger.lookup(target, false)).toEqual(rec());
    await ledger.forget(target);
    expect(await ledger.lookup(target, true)).toBeUndefined();
  });

  it('a store that cannot be read throws (the caller must not run the function)', async () => {
    const store = new FakeStore();
    store.failGets = 1;
    await expect(new SettleLedger({ store }).lookup(target, true)).rejects.toThrow('unreachable');
  });

  it('a record of another message under the same key is not used', async () => {
    const store = new FakeStore();
    store.values.set(settleKey(target), encodeSettle(rec({ namespace: 'evil' })));
    expect(await new SettleLedger({ store }).lookup(target, true)).toBeUndefined();
  });

  it.each([
    { name: 'by count', memoryItems: 2, memoryBytes: 1 << 20 },
    { name: 'by bytes', memoryItems: 100, memoryBytes: 2 * encodeSettle(rec()).length + 1 },
  ])('memory is bounded $name: the oldest is forgotten first', async ({ memoryItems, memoryBytes }) => {
    const ledger = new SettleLedger({ memoryItems, memoryBytes });
    for (const seq of [1, 2, 3]) await ledger.remember(rec({ seq }));
    expect(await ledger.lookup({ ...target, seq: 1 }, false)).toBeUndefined();
    expect(await ledger.lookup({ ...target, seq: 2 }, false)).toBeDefined();
    expect(await ledger.lookup({ ...target, seq: 3 }, false)).toBeDefined();
  });
});
