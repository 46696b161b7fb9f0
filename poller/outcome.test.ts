import { describe, expect, it } from 'vitest';
import { classifyResponse, type InvokeResult } from './invoker.js';
import { classifyResult, planStreamStep, type BatchOutcome, type Segment } from './outcome.js';

const ok = (body: string): InvokeResult => ({ kind: 'success', payload: Buffer.from(body) });
const ids = new Set(['a', 'b', 'c']);

describe('classifyResult', () => {
  it.each([
    {
      name: 'plain success without partial responses',
      r: ok('{"batchItemFailures":[{"itemIdentifier":"a"}]}'),
      partial: false,
      want: { kind: 'success' },
    },
    { name: 'empty body', r: ok(''), partial: true, want: { kind: 'success' } },
    { name: 'null body', r: ok('null'), partial: true, want: { kind: 'success' } },
    { name: 'empty list', r: ok('{"batchItemFailures":[]}'), partial: true, want: { kind: 'success' } },
    { name: 'null list', r: ok('{"batchItemFailures":null}'), partial: true, want: { kind: 'success' } },
    { name: 'other object', r: ok('{"ok":true}'), partial: true, want: { kind: 'success' } },
    {
      name: 'listed failures',
      r: ok('{"batchItemFailures":[{"itemIdentifier":"b"},{"itemIdentifier":"c"},{"itemIdentifier":"b"}]}'),
      partial: true,
      want: { kind: 'partial', failed: ['b', 'c'] },
    },
    { name: 'invalid JSON is full failure', r: ok('{oops'), partial: true, want: { kind: 'function_error' } },
    {
      name: 'unknown id is full failure',
      r: ok('{"batchItemFailures":[{"itemIdentifier":"z"}]}'),
      partial: true,
      want: { kind: 'function_error' },
    },
    {
      name: 'empty id is full failure',
      r: ok('{"batchItemFailures":[{"itemIdentifier":""}]}'),
      partial: true,
      want: { kind: 'function_error' },
    },
    {
      name: 'null id is full failure',
      r: ok('{"batchItemFailures":[{"itemIdentifier":null}]}'),
      partial: true,
      want: { kind: 'function_error' },
    },
    {
      name: 'function error',
      r: {
        kind: 'function_error',
        payload: Buffer.from('{"errorType":"Error","errorMessage":"boom"}'),
        timedOut: false,
      } as InvokeResult,
      partial: true,
      want: { kind: 'function_error', reason: 'Error: boom' },
    },
    {
      name: 'throttle',
      r: { kind: 'throttled', message: '429', retryAfterMs: 1000 } as InvokeResult,
      partial: false,
      want: { kind: 'throttled', retryAfterMs: 1000 },
    },
    {
      name: 'retryable error',
      r: { kind: 'error', message: '503', retryable: true } as InvokeResult,
      partial: false,
      want: { kind: 'error' },
    },
    {
      name: 'unfixable error',
      r: { kind: 'error', message: '413', retryable: false } as InvokeResult,
      partial: false,
      want: { kind: 'rejected' },
    },
    {
      name: "401 from the gateway (the poller's token): a platform error, never the records' failure",
      r: classifyResponse(401, new Headers(), Buffer.from('')),
      partial: false,
      want: { kind: 'error' },
    },
    {
      name: "403 from the gateway (RBAC or the function's invokePolicy): a platform error too",
      r: classifyResponse(
        403,
        new Headers({ 'x-amzn-errortype': 'AccessDeniedException' }),
        Buffer.from('{}'),
      ),
      partial: true,
      want: { kind: 'error' },
    },
  ])('$name', ({ r, partial, want }) => expect(classifyResult(r, partial, ids)).toMatchObject(want));
});

const seg = (from: number, to: number, retries = 0): Segment => ({ from, to, retries });
const fnErr: BatchOutcome = { kind: 'function_error', reason: 'x', timedOut: false };

describe('planStreamStep (bisect plan)', () => {
  it.each([
    {
      name: 'success checkpoints the whole segment',
      s: seg(0, 10),
      o: { kind: 'success' } as BatchOutcome,
      opts: { bisect: true, maxRetries: 3 },
      want: { doneThrough: 9, next: [], backoff: false },
    },
    {
      name: 'bisect splits a failing batch, using no retry',
      s: seg(0, 10, 1),
      o: fnErr,
      opts: { bisect: true, maxRetries: 3 },
      want: { next: [seg(0, 5, 1), seg(5, 10, 1)], backoff: false },
    },
    {
      name: 'odd sizes: first half larger',
      s: seg(4, 7),
      o: fnErr,
      opts: { bisect: true, maxRetries: 3 },
      want: { next: [seg(4, 6), seg(6, 7)], backoff: false },
    },
    {
      name: 'single record retries',
      s: seg(3, 4, 0),
      o: fnErr,
      opts: { bisect: true, maxRetries: 2 },
      want: { next: [seg(3, 4, 1)], backoff: true },
    },
    {
      name: 'single record exhausted goes to onFailure',
      s: seg(3, 4, 2),
      o: fnErr,
      opts: { bisect: true, maxRetries: 2 },
      want: { doneThrough: 3, failed: { from: 3, to: 4, condition: 'RetryAttemptsExhausted' }, next: [] },
    },
    {
      name: 'no bisect: whole batch retries',
      s: seg(0, 10, 0),
      o: fnErr,
      opts: { bisect: false, maxRetries: 2 },
      want: { next: [seg(0, 10, 1)], backoff: true },
    },
    {
      name: 'no bisect: exhausted batch to onFailure',
      s: seg(0, 10, 2),
      o: fnErr,
      opts: { bisect: false, maxRetries: 2 },
      want: { doneThrough: 9, failed: { from: 0, to: 10 } },
    },
    {
      name: 'zero retries: straight to onFailure',
      s: seg(0, 1, 0),
      o: fnErr,
      opts: { bisect: false, maxRetries: 0 },
      want: { failed: { from: 0, to: 1 } },
    },
    {
      name: '-1 retries forever',
      s: seg(0, 1, 10_000),
      o: fnErr,
      opts: { bisect: false, maxRetries: -1 },
      want: { next: [seg(0, 1, 10_001)], backoff: true },
    },
    {
      name: 'partial: checkpoint before the lowest failure, retry from it',
      s: seg(0, 10),
      o: { kind: 'partial', failed: ['x'] } as BatchOutcome,
      opts: { bisect: false, maxRetries: 3, firstFailedIndex: 4 },
      want: { doneThrough: 3, next: [seg(4, 10, 1)], backoff: true },
    },
    {
      name: 'partial at the first record: no checkpoint',
      s: seg(0, 10),
      o: { kind: 'partial', failed: ['x'] } as BatchOutcome,
      opts: { bisect: false, maxRetries: 3, firstFailedIndex: 0 },
      want: { next: [seg(0, 10, 1)] },
    },
    {
      name: 'partial exhausted: the rest to onFailure',
      s: seg(0, 10, 3),
      o: { kind: 'partial', failed: ['x'] } as BatchOutcome,
      opts: { bisect: false, maxRetries: 3, firstFailedIndex: 6 },
      want: { doneThrough: 9, failed: { from: 6, to: 10 } },
    },
    {
      name: 'throttle retries without using retries',
      s: seg(0, 10, 2),
      o: { kind: 'throttled', reason: '' } as BatchOutcome,
      opts: { bisect: true, maxRetries: 2 },
      want: { next: [seg(0, 10, 2)], backoff: true },
    },
    {
      name: 'a platform error (a 401/403 from the gateway) retries without using retries, even with none left',
      s: seg(0, 10, 0),
      o: { kind: 'error', reason: '403 AccessDeniedException' } as BatchOutcome,
      opts: { bisect: true, maxRetries: 0 },
      want: { next: [seg(0, 10, 0)], backoff: true },
    },
    {
      name: 'rejected goes to onFailure at once',
      s: seg(0, 1),
      o: { kind: 'rejected', reason: '' } as BatchOutcome,
      opts: { bisect: true, maxRetries: 5 },
      want: { failed: { from: 0, to: 1 } },
    },
  ])('$name', ({ s, o, opts, want }) => expect(planStreamStep(s, o, opts)).toMatchObject(want));

  it('bisects a batch of 8 down to its poison record, delivering all others in order', () => {
    const poison = 5;
    const delivered: number[] = [];
    const failed: number[] = [];
    let queue: Segment[] = [seg(0, 8)];
    let calls = 0;
    while (queue.length > 0 && calls < 100) {
      calls++;
      const s = queue.shift()!;
      const o: BatchOutcome = poison >= s.from && poison < s.to ? fnErr : { kind: 'success' };
      const step = planStreamStep(s, o, { bisect: true, maxRetries: 1 });
      if (o.kind === 'success') for (let i = s.from; i < s.to; i++) delivered.push(i);
      if (step.failed) for (let i = step.failed.from; i < step.failed.to; i++) failed.push(i);
      queue = [...step.next, ...queue];
    }
    expect(delivered).toEqual([0, 1, 2, 3, 4, 6, 7]);
    expect(failed).toEqual([5]);
  });
});
