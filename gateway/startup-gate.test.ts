import { describe, expect, it, vi } from 'vitest';
import { startupGate } from './startup-gate.js';

describe('startupGate', () => {
  it('stays closed until the pipeline is attached, then stays open even if it goes away', () => {
    let attached = false;
    let t = 0;
    const gate = startupGate({ attached: () => attached, graceMs: 30_000, now: () => t });
    expect(gate()).toBe(false);
    t = 29_999;
    expect(gate()).toBe(false);
    attached = true;
    expect(gate()).toBe(true);
    attached = false;
    expect(gate()).toBe(true);
  });

  it('opens when the grace period passes without NATS, telling once', () => {
    let t = 1000;
    const expired = vi.fn();
    const gate = startupGate({
      attached: () => false,
      graceMs: 30_000,
      now: () => t,
      onGraceExpired: expired,
    });
    expect(gate()).toBe(false);
    t = 31_000;
    expect(gate()).toBe(true);
    expect(gate()).toBe(true);
    expect(expired).toHaveBeenCalledTimes(1);
  });

  it('with a grace of 0 it is open from the start', () => {
    expect(startupGate({ attached: () => false, graceMs: 0 })()).toBe(true);
  });
});
