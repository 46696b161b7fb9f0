import { describe, expect, it } from 'vitest';
import { invocationOutcomeOf, type InvokeOutcome } from './outcomes.js';

const payload = Buffer.from('{}');

describe('invocationOutcomeOf: the metric label of an internal invocation', () => {
  it.each<{ name: string; outcome: InvokeOutcome; want: string }>([
    { name: 'success', outcome: { kind: 'success', payload, executedVersion: '1' }, want: 'success' },
    {
      name: 'a function error',
      outcome: { kind: 'function_error', errorType: 'Error', payload, executedVersion: '1' },
      want: 'function_error',
    },
    {
      name: 'a timeout',
      outcome: { kind: 'function_error', errorType: 'Sandbox.Timedout', payload, executedVersion: '1' },
      want: 'timeout',
    },
    { name: 'a throttle', outcome: { kind: 'throttled', reason: 'reserved' }, want: 'throttled' },
    { name: 'a missing function', outcome: { kind: 'not_found', message: 'gone' }, want: 'error' },
    {
      name: 'a refused request',
      outcome: { kind: 'rejected', statusCode: 413, errorType: 'RequestTooLargeException', message: 'big' },
      want: 'error',
    },
    { name: 'a platform failure', outcome: { kind: 'system_error', message: 'down' }, want: 'error' },
  ])('$name → $want', ({ outcome, want }) => {
    expect(invocationOutcomeOf(outcome)).toBe(want);
  });
});
