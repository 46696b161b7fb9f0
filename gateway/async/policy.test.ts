import { describe, expect, it } from 'vitest';
import { asyncFunction } from './function-config.js';
import { afterOutcome, beforeInvoke, requeueDelayMs, retryDelayMs, type OutcomeKind } from './policy.js';

const NOW = 1_000_000_000;
const fn = (o: Parameters<typeof asyncFunction>[0] extends infer T ? Partial<T> : never = {}) =>
  asyncFunction({ namespace: 'shop', name: 'resize', retryDelaySeconds: 60, maxEventAgeSeconds: 3600, ...o });
const noJitter = { throttleBaseMs: 1000, throttleCapMs: 300_000, jitter: 0 };
const half = () => 0.5;

describe('beforeInvoke', () => {
  it.each([
    {
      name: 'fresh event is invoked',
      f: fn(),
      ev: { attempt: 1, enqueuedAt: NOW - 1000, deliveryCount: 1 },
      want: { kind: 'invoke' },
    },
    {
      name: 'reserved concurrency 0: ZeroReservedConcurrency with count 0, never invoked',
      f: fn({ reserved: 0 }),
      ev: { attempt: 1, enqueuedAt: NOW, deliveryCount: 1 },
      want: {
        kind: 'fail',
        condition: 'ZeroReservedConcurrency',
        reason: 'ZeroReservedConcurrency',
        invokeCount: 0,
      },
    },
    {
      name: 'older than maxEventAge: EventAgeExceeded counting the attempts made',
      f: fn({ maxEventAgeSeconds: 60 }),
      ev: { attempt: 2, enqueuedAt: NOW - 61_000, deliveryCount: 1 },
      want: { kind: 'fail', condition: 'EventAgeExceeded', reason: 'EventAgeExceeded', invokeCount: 1 },
    },
    {
      name: 'just inside maxEventAge is still invoked',
      f: fn({ maxEventAgeSeconds: 60 }),
      ev: { attempt: 1, enqueuedAt: NOW - 59_999, deliveryCount: 5 },
      want: { kind: 'invoke' },
    },
  ])('$name', ({ f, ev, want }) => {
    expect(beforeInvoke(f, ev, NOW)).toEqual(want);
  });
});

describe('afterOutcome', () => {
  const rows: {
    name: string;
    f: ReturnType<typeof fn>;
    attempt: number;
    ageMs?: number;
    deliveryCount?: number;
    outcome: OutcomeKind;
    want: unknown;
  }[] = [
    { name: 'success', f: fn(), attempt: 1, outcome: 'success', want: { kind: 'succeed' } },
    {
      name: 'first function error: retry 2 after retryDelay',
      f: fn(),
      attempt: 1,
      outcome: 'function_error',
      want: { kind: 'retry', attempt: 2, delayMs: 60_000 },
    },
    {
      name: 'second function error: retry 3 after twice the delay',
      f: fn(),
      attempt: 2,
      outcome: 'function_error',
      want: { kind: 'retry', attempt: 3, delayMs: 120_000 },
    },
    {
      name: 'third function error with maxRetryAttempts 2: RetriesExhausted, count 3',
      f: fn(),
      attempt: 3,
      outcome: 'function_error',
      want: { kind: 'fail', condition: 'RetriesExhausted', reason: 'RetriesExhausted', invokeCount: 3 },
    },
    {
      name: 'maxRetryAttempts 1: second error exhausts, count 2',
      f: fn({ maxRetryAttempts: 1 }),
      attempt: 2,
      outcome: 'function_error',
      want: { kind: 'fail', condition: 'RetriesExhausted', reason: 'RetriesExhausted', invokeCount: 2 },
    },
    {
      name: 'maxRetryAttempts 0: first error exhausts',
      f: fn({ maxRetryAttempts: 0 }),
      attempt: 1,
      outcome: 'function_error',
      want: { kind: 'fail', condition: 'RetriesExhausted', reason: 'RetriesExhausted', invokeCount: 1 },
    },
    {
      name: 'retry never waits past expiry',
      f: fn({ maxEventAgeSeconds: 100 }),
      attempt: 1,
      ageMs: 90_000,
      outcome: 'function_error',
      want: { kind: 'retry', attempt: 2, delayMs: 10_000 },
    },
    {
      name: 'function error after expiry: EventAgeExceeded',
      f: fn({ maxEventAgeSeconds: 100 }),
      attempt: 1,
      ageMs: 100_000,
      outcome: 'function_error',
      want: { kind: 'fail', condition: 'EventAgeExceeded', reason: 'EventAgeExceeded', invokeCount: 1 },
    },
    {
      name: 'throttle: re-queued after 1 s, no attempt consumed',
      f: fn(),
      attempt: 1,
      deliveryCount: 1,
      outcome: 'throttled',
      want: { kind: 'requeue', delayMs: 1000 },
    },
    {
      name: 'system error on the 4th delivery: 8 s',
      f: fn(),
      attempt: 2,
      deliveryCount: 4,
      outcome: 'system_error',
      want: { kind: 'requeue', delayMs: 8000 },
    },
    {
      name: 'throttled for long: capped at 5 min',
      f: fn({ maxEventAgeSeconds: 21_600 }),
      attempt: 1,
      deliveryCount: 30,
      outcome: 'throttled',
      want: { kind: 'requeue', delayMs: 300_000 },
    },
    {
      name: 're-queue never waits much past expiry',
      f: fn({ maxEventAgeSeconds: 60 }),
      attempt: 1,
      ageMs: 59_500,
      deliveryCount: 10,
      outcome: 'throttled',
      want: { kind: 'requeue', delayMs: 501 },
    },
    {
      name: 'throttled past expiry: EventAgeExceeded, count of real invocations',
      f: fn({ maxEventAgeSeconds: 60 }),
      attempt: 1,
      ageMs: 61_000,
      outcome: 'throttled',
      want: { kind: 'fail', condition: 'EventAgeExceeded', reason: 'EventAgeExceeded', invokeCount: 0 },
    },
    {
      name: 'function gone: not retried',
      f: fn(),
      attempt: 1,
      outcome: 'not_found',
      want: { kind: 'fail', condition: 'RetriesExhausted', reason: 'ResourceNotFound', invokeCount: 1 },
    },
    {
      name: 'request rejected (4xx): not retried',
      f: fn(),
      attempt: 2,
      outcome: 'rejected',
      want: { kind: 'fail', condition: 'RetriesExhausted', reason: 'RequestRejected', invokeCount: 2 },
    },
  ];
  it.each(rows)('$name', ({ f, attempt, ageMs, deliveryCount, outcome, want }) => {
    const ev = { attempt, enqueuedAt: NOW - (ageMs ?? 1000), deliveryCount: deliveryCount ?? 1 };
    expect(afterOutcome(f, ev, outcome, NOW, noJitter, half)).toEqual(want);
  });
});

describe('delays', () => {
  it.each([
    { name: 'Lambda defaults: 1 min before attempt 2', delay: 60, next: 2, want: 60_000 },
    { name: 'Lambda defaults: 2 min before attempt 3', delay: 60, next: 3, want: 120_000 },
    { name: 'test setting: 1 s then 2 s', delay: 1, next: 3, want: 2000 },
  ])('retry: $name', ({ delay, next, want }) => {
    expect(retryDelayMs(fn({ retryDelaySeconds: delay }), next)).toBe(want);
  });

  it.each([
    { name: 'jitter low end', random: 0, want: 800 },
    { name: 'jitter high end', random: 1, want: 1200 },
    { name: 'jitter never exceeds the cap', random: 1, deliveries: 40, want: 300_000 },
  ])('requeue: $name', ({ random, deliveries, want }) => {
    expect(requeueDelayMs({ ...noJitter, jitter: 0.2 }, deliveries ?? 1, () => random)).toBe(want);
  });
});
