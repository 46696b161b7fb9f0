import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.js';
import { Autoscaler } from '../autoscaler/autoscaler.js';
import { PollerMetrics } from '../metrics.js';
import { MemoryLeaseStore } from '../../test/support/memory-leases.js';
import { AutoscalerLeader } from './leader.js';

const log = createLogger({ component: 'test', level: 'silent' });

function counting(): { autoscaler: Autoscaler; ticks: () => number } {
  let n = 0;
  const autoscaler = new Autoscaler({
    view: {
      workloads: () => {
        n++;
        return [];
      },
    },
    demand: { demand: () => Promise.resolve(new Map()) },
    target: { scale: () => Promise.resolve() },
    windows: { stableWindowMs: 0, burstWindowMs: 1, burstReplicas: 1 },
    metrics: new PollerMetrics(new Registry()),
    log,
  });
  return { autoscaler, ticks: () => n };
}

describe('AutoscalerLeader', () => {
  it('only the lease holder decides; another takes over after the lease runs out', async () => {
    const leases = new MemoryLeaseStore();
    let now = 0;
    const a = counting();
    const b = counting();
    const opts = { leases, leaseSeconds: 15, renewSeconds: 5, intervalMs: 1000, log, now: () => now };
    const la = new AutoscalerLeader({ ...opts, identity: 'a', autoscaler: a.autoscaler });
    const lb = new AutoscalerLeader({ ...opts, identity: 'b', autoscaler: b.autoscaler });
    for (let i = 0; i < 10; i++) {
      await la.step();
      await lb.step();
      now += 1000;
    }
    expect(a.ticks()).toBe(10);
    expect(b.ticks()).toBe(0);
    // a dies after renewing at 5 s: b waits for the lease to expire (20 s), then decides
    for (let i = 0; i < 11; i++) {
      await lb.step();
      now += 1000;
    }
    expect(b.ticks()).toBe(0);
    for (let i = 0; i < 6; i++) {
      await lb.step();
      now += 1000;
    }
    expect(b.ticks()).toBeGreaterThan(0);
  });
});
