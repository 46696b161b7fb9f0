import type { FailureCondition } from '../../api/records.js';
import type { AsyncFunction } from './function-config.js';

/**
 * The retry rules of lambda.md §5 as pure functions: what to do with an event before it is
 * invoked, and after each outcome. The dispatcher only carries the decisions out.
 */

/** What one invocation attempt returned (see invoker.ts). */
export type OutcomeKind =
  | 'success'
  | 'function_error'
  | 'throttled'
  | 'system_error'
  | 'not_found'
  | 'rejected';

/** Why an event left the queue without a successful run (`sluice_async_events_dropped_total{reason}`). */
export type DropReason = FailureCondition | 'ResourceNotFound' | 'RequestRejected';

export type Decision =
  | { kind: 'invoke' }
  | { kind: 'succeed' }
  /** A function error with attempts left: schedule attempt `attempt` after `delayMs`. */
  | { kind: 'retry'; attempt: number; delayMs: number }
  /** A throttle or system error: back on the queue after `delayMs`, no attempt consumed. */
  | { kind: 'requeue'; delayMs: number }
  /** No more attempts: a failure record with `condition`. */
  | { kind: 'fail'; condition: FailureCondition; reason: DropReason; invokeCount: number };

export interface BackoffPolicy {
  /** First re-queue delay after a throttle or system error (Lambda: 1 s). */
  throttleBaseMs: number;
  /** Largest re-queue delay (Lambda: 5 min). */
  throttleCapMs: number;
  /** ± fraction of jitter on re-queue delays (0 disables it). */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { throttleBaseMs: 1000, throttleCapMs: 300_000, jitter: 0.2 };

export interface EventState {
  /** The attempt this delivery is for (1-based). */
  attempt: number;
  enqueuedAt: number;
  /** Deliveries of this very message (JetStream's delivery count, ≥ 1): re-queues so far + 1. */
  deliveryCount: number;
}

function remainingMs(fn: AsyncFunction, ev: EventState, now: number): number {
  return ev.enqueuedAt + fn.maxEventAgeSeconds * 1000 - now;
}

/** Before invoking: reserved concurrency 0 and expired events go straight to failure. */
export function beforeInvoke(fn: AsyncFunction, ev: EventState, now: number): Decision {
  if (fn.reserved === 0) {
    return {
      kind: 'fail',
      condition: 'ZeroReservedConcurrency',
      reason: 'ZeroReservedConcurrency',
      invokeCount: 0,
    };
  }
  if (remainingMs(fn, ev, now) <= 0) {
    return {
      kind: 'fail',
      condition: 'EventAgeExceeded',
      reason: 'EventAgeExceeded',
      invokeCount: ev.attempt - 1,
    };
  }
  return { kind: 'invoke' };
}

/** Delay before retry `nextAttempt` (2, 3): retryDelaySeconds, then doubled. */
export function retryDelayMs(fn: AsyncFunction, nextAttempt: number): number {
  return fn.retryDelaySeconds * 1000 * 2 ** Math.max(0, nextAttempt - 2);
}

/** Exponential re-queue delay for throttles and system errors, capped, with jitter. */
export function requeueDelayMs(p: BackoffPolicy, deliveryCount: number, random: () => number): number {
  const exp = Math.min(p.throttleCapMs, p.throttleBaseMs * 2 ** Math.min(30, Math.max(0, deliveryCount - 1)));
  const factor = 1 + p.jitter * (2 * random() - 1);
  return Math.max(1, Math.round(Math.min(p.throttleCapMs, exp * factor)));
}

/** After one attempt: retry, re-queue, succeed or fail, per the outcome and what is left. */
export function afterOutcome(
  fn: AsyncFunction,
  ev: EventState,
  outcome: OutcomeKind,
  now: number,
  p: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): Decision {
  const left = remainingMs(fn, ev, now);
  switch (outcome) {
    case 'success':
      return { kind: 'succeed' };
    case 'not_found':
      return {
        kind: 'fail',
        condition: 'RetriesExhausted',
        reason: 'ResourceNotFound',
        invokeCount: ev.attempt,
      };
    case 'rejected':
      return {
        kind: 'fail',
        condition: 'RetriesExhausted',
        reason: 'RequestRejected',
        invokeCount: ev.attempt,
      };
    case 'function_error': {
      if (ev.attempt > fn.maxRetryAttempts) {
        return {
          kind: 'fail',
          condition: 'RetriesExhausted',
          reason: 'RetriesExhausted',
          invokeCount: ev.attempt,
        };
      }
      if (left <= 0) {
        return {
          kind: 'fail',
          condition: 'EventAgeExceeded',
          reason: 'EventAgeExceeded',
          invokeCount: ev.attempt,
        };
      }
      const next = ev.attempt + 1;
      // Never wait past the event's expiry: it is then failed as EventAgeExceeded on arrival.
      return { kind: 'retry', attempt: next, delayMs: Math.min(retryDelayMs(fn, next), left) };
    }
    case 'throttled':
    case 'system_error': {
      if (left <= 0) {
        return {
          kind: 'fail',
          condition: 'EventAgeExceeded',
          reason: 'EventAgeExceeded',
          invokeCount: ev.attempt - 1,
        };
      }
      return { kind: 'requeue', delayMs: Math.min(requeueDelayMs(p, ev.deliveryCount, random), left + 1) };
    }
  }
}
