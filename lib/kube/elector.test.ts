import { describe, expect, it } from 'vitest';
import { MemoryLeaseStore } from '../../test/support/memory-leases.js';
import { createLogger } from '../log.js';
import { LeaderElector } from './elector.js';
import type { LeaseRecord } from './leases.js';

const log = createLogger({ component: 'test', level: 'silent' });

describe('LeaderElector', () => {
  it('one leader at a time; a follower takes over once the lease expired', async () => {
    const leases = new MemoryLeaseStore();
    let now = 0;
    const opts = { leases, name: 'lead', leaseSeconds: 15, renewSeconds: 5, log, now: () => now };
    const a = new LeaderElector({ ...opts, identity: 'a' });
    const b = new LeaderElector({ ...opts, identity: 'b' });
    expect(await a.step()).toBe(true);
    expect(await b.step()).toBe(false);
    now = 5000;
    expect(await a.step()).toBe(true); // renewed at 5 s
    expect(a.attempts).toMatchObject({ total: 2, held: 2 });
    // a stops renewing: it stops leading before its lease lapses (17.5 s < 20 s)…
    now = 17_500;
    expect(a.isLeader).toBe(false);
    expect(await b.step()).toBe(false);
    // …and b takes the lease only after it expired.
    now = 20_001;
    expect(await b.step()).toBe(true);
    expect((await leases.get('lead'))?.transitions).toBe(1);
  });

  it('stop() releases the lease so a successor takes it at once', async () => {
    const leases = new MemoryLeaseStore();
    const a = new LeaderElector({
      leases,
      name: 'lead',
      identity: 'a',
      leaseSeconds: 15,
      renewSeconds: 5,
      log,
    });
    const b = new LeaderElector({
      leases,
      name: 'lead',
      identity: 'b',
      leaseSeconds: 15,
      renewSeconds: 5,
      log,
    });
    expect(await a.step()).toBe(true);
    await a.stop();
    expect(a.isLeader).toBe(false);
    expect(await b.step()).toBe(true);
  });

  it('a failed renewal does not end leadership before the lease could lapse', async () => {
    const leases = new MemoryLeaseStore();
    let now = 0;
    const a = new LeaderElector({
      leases,
      name: 'lead',
      identity: 'a',
      leaseSeconds: 15,
      renewSeconds: 5,
      log,
      now: () => now,
    });
    expect(await a.step()).toBe(true);
    const update = leases.update.bind(leases);
    leases.update = (_r: LeaseRecord): Promise<LeaseRecord> => Promise.reject(new Error('API down'));
    now = 5000;
    expect(await a.step()).toBe(true);
    now = 12_600;
    expect(await a.step()).toBe(false);
    leases.update = update;
  });
});
