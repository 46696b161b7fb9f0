import { describe, expect, it } from 'vitest';
import { decide, emptyState, type DecisionInput, type ScaleState, type ScalingPolicy } from './decide.js';

const policy = (o: Partial<ScalingPolicy> = {}): ScalingPolicy => ({
  minReplicas: 0,
  maxReplicas: 20,
  concurrencyPerPod: 1,
  scaleToZeroAfterSeconds: 300,
  ...o,
});
const windows = { stableWindowMs: 60_000, burstWindowMs: 10_000, burstReplicas: 100 };
const NOW = 1_000_000;
const input = (o: Partial<DecisionInput> = {}): DecisionInput => ({
  now: NOW,
  current: 0,
  policy: policy(),
  windows,
  demand: { inflight: 0, backlog: 0 },
  state: emptyState(),
  ...o,
});
const state = (o: Partial<ScaleState>): ScaleState => ({ ...emptyState(), ...o });

describe('decide', () => {
  it.each([
    { name: 'idle at zero stays at zero', in: input(), want: 0, reason: /steady/ },
    {
      name: 'activation: one message takes 0 to 1',
      in: input({ demand: { inflight: 0, backlog: 1 } }),
      want: 1,
      reason: /activation/,
    },
    {
      name: 'activation: one in-flight call takes 0 to 1',
      in: input({ demand: { inflight: 1, backlog: 0 } }),
      want: 1,
      reason: /activation/,
    },
    {
      name: 'activation sizes for the demand',
      in: input({ demand: { inflight: 0, backlog: 7 }, policy: policy({ concurrencyPerPod: 2 }) }),
      want: 4,
      reason: /activation/,
    },
    {
      name: 'scale-out at once',
      in: input({ current: 2, demand: { inflight: 3, backlog: 5 }, state: state({ lastDesired: 2 }) }),
      want: 8,
      reason: /scale-out/,
    },
    {
      name: 'scale-out divides by concurrencyPerPod',
      in: input({
        current: 1,
        demand: { inflight: 10, backlog: 0 },
        policy: policy({ concurrencyPerPod: 4 }),
      }),
      want: 3,
      reason: /scale-out/,
    },
    {
      name: 'backlog of thousands: bounded by maxReplicas',
      in: input({ current: 1, demand: { inflight: 0, backlog: 5000 } }),
      want: 20,
      reason: /maxReplicas 20/,
    },
    {
      name: 'stable window: no scale-in while a higher recommendation is recent',
      in: input({
        current: 8,
        demand: { inflight: 2, backlog: 0 },
        state: state({
          history: [{ at: NOW - 30_000, replicas: 8 }],
          lastActiveAt: NOW - 1000,
          lastDesired: 8,
        }),
      }),
      want: 8,
      reason: /steady/,
    },
    {
      name: 'stable window: scale-in to the highest recommendation in the window',
      in: input({
        current: 8,
        demand: { inflight: 2, backlog: 0 },
        state: state({
          history: [
            { at: NOW - 70_000, replicas: 8 },
            { at: NOW - 20_000, replicas: 5 },
          ],
          lastActiveAt: NOW - 1000,
          lastDesired: 8,
        }),
      }),
      want: 5,
      reason: /scale-in/,
    },
    {
      name: 'no demand within the idle window keeps one warm',
      in: input({
        current: 3,
        state: state({
          history: [{ at: NOW - 70_000, replicas: 3 }],
          lastActiveAt: NOW - 100_000,
          lastDesired: 3,
        }),
      }),
      want: 1,
      reason: /keeping 1 warm/,
    },
    {
      name: 'scale-to-zero after the idle window',
      in: input({
        current: 1,
        policy: policy({ scaleToZeroAfterSeconds: 30 }),
        state: state({ lastActiveAt: NOW - 31_000, lastDesired: 1 }),
      }),
      want: 0,
      reason: /scale-to-zero/,
    },
    {
      name: 'scale-to-zero ignores the stable window',
      in: input({
        current: 4,
        policy: policy({ scaleToZeroAfterSeconds: 5 }),
        state: state({
          history: [{ at: NOW - 10_000, replicas: 4 }],
          lastActiveAt: NOW - 6000,
          lastDesired: 4,
        }),
      }),
      want: 0,
      reason: /scale-to-zero/,
    },
    {
      name: 'a gateway activation (replicas raised by someone else) is not undone',
      in: input({
        current: 1,
        policy: policy({ scaleToZeroAfterSeconds: 5 }),
        state: state({ lastActiveAt: NOW - 600_000, lastDesired: 0 }),
      }),
      want: 1,
      reason: /keeping 1 warm/,
    },
    {
      name: 'first sight of a running deployment starts the idle clock',
      in: input({ current: 2, policy: policy({ scaleToZeroAfterSeconds: 5 }) }),
      want: 1,
      reason: /keeping 1 warm/,
    },
    {
      name: 'minReplicas floor',
      in: input({ policy: policy({ minReplicas: 2 }) }),
      want: 2,
      reason: /minReplicas 2/,
    },
    {
      name: 'minReplicas floor beats scale-to-zero',
      in: input({
        current: 2,
        policy: policy({ minReplicas: 2, scaleToZeroAfterSeconds: 0 }),
        state: state({ lastActiveAt: NOW - 1000, lastDesired: 2 }),
      }),
      want: 2,
      reason: /./,
    },
    {
      name: 'reserved concurrency caps replicas',
      in: input({
        current: 1,
        demand: { inflight: 0, backlog: 100 },
        policy: policy({ reservedConcurrency: 6, concurrencyPerPod: 4 }),
      }),
      want: 2,
      reason: /reserved concurrency 6/,
    },
    {
      name: 'reserved concurrency 0 stops the function, even with minReplicas',
      in: input({
        current: 2,
        demand: { inflight: 0, backlog: 5 },
        policy: policy({ minReplicas: 1, reservedConcurrency: 0 }),
      }),
      want: 0,
      reason: /reserved concurrency 0/,
    },
    {
      name: 'burst: at most burstReplicas added per burst window',
      in: input({
        current: 2,
        demand: { inflight: 0, backlog: 500 },
        policy: policy({ maxReplicas: 1000 }),
        windows: { ...windows, burstReplicas: 10 },
        state: state({ increases: [{ at: NOW - 5000, by: 4 }], lastDesired: 2 }),
      }),
      want: 8,
      reason: /burst limit 10/,
    },
    {
      name: 'burst: the window refills',
      in: input({
        current: 2,
        demand: { inflight: 0, backlog: 500 },
        policy: policy({ maxReplicas: 1000 }),
        windows: { ...windows, burstReplicas: 10 },
        state: state({ increases: [{ at: NOW - 11_000, by: 10 }], lastDesired: 2 }),
      }),
      want: 12,
      reason: /burst limit/,
    },
    {
      name: 'burst limit never blocks activation',
      in: input({
        current: 0,
        demand: { inflight: 0, backlog: 1 },
        windows: { ...windows, burstReplicas: 0 },
      }),
      want: 1,
      reason: /activation/,
    },
    {
      name: 'missing consumer: hold, do not scale to max or to zero',
      in: input({
        current: 3,
        demand: { inflight: 0, backlog: 0, error: 'consumer ORDERS/x not found' },
        policy: policy({ scaleToZeroAfterSeconds: 0 }),
        state: state({ lastActiveAt: NOW - 999_999, lastDesired: 3 }),
      }),
      want: 3,
      reason: /holding: demand incomplete \(consumer ORDERS\/x not found\)/,
    },
    {
      name: 'missing consumer: known in-flight still scales out',
      in: input({ current: 1, demand: { inflight: 4, backlog: 0, error: 'consumer missing' } }),
      want: 4,
      reason: /holding/,
    },
  ])('$name', ({ in: i, want, reason }) => {
    const d = decide(i);
    expect(d.desired).toBe(want);
    expect(d.reason).toMatch(reason);
  });

  it('walks the phases: activation, scale-out, stable hold, warm, zero', () => {
    const p = policy({ scaleToZeroAfterSeconds: 20 });
    const w = { stableWindowMs: 10_000, burstWindowMs: 10_000, burstReplicas: 100 };
    let s = emptyState();
    let current = 0;
    const step = (at: number, backlog: number): number => {
      const d = decide({
        now: at,
        current,
        policy: p,
        windows: w,
        demand: { inflight: 0, backlog },
        state: s,
      });
      s = d.state;
      current = d.desired;
      return current;
    };
    expect(step(0, 1)).toBe(1);
    expect(step(1000, 3000)).toBe(20);
    expect(step(2000, 0)).toBe(20);
    expect(step(10_500, 0)).toBe(20);
    expect(step(12_500, 0)).toBe(1);
    expect(step(20_500, 0)).toBe(1);
    expect(step(21_000, 0)).toBe(0);
    expect(step(23_000, 0)).toBe(0);
  });
});
