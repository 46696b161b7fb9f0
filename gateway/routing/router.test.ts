import { describe, expect, it } from 'vitest';
import { EndpointTable, workloadKey } from './router.js';

const key = workloadKey('default', 'hello', '$LATEST');

describe('EndpointTable (least outstanding requests)', () => {
  it('keys $LATEST by its label', () => {
    expect(key).toBe('default/hello/latest');
  });

  it.each([
    { name: 'no endpoints → none', pods: [], perPod: 1, busy: {}, exclude: [], want: undefined },
    {
      name: 'picks the idle pod',
      pods: ['a:1', 'b:1'],
      perPod: 2,
      busy: { 'a:1': 1 },
      exclude: [],
      want: 'b:1',
    },
    {
      name: 'picks the least loaded with room',
      pods: ['a:1', 'b:1', 'c:1'],
      perPod: 5,
      busy: { 'a:1': 3, 'b:1': 1, 'c:1': 2 },
      exclude: [],
      want: 'b:1',
    },
    {
      name: 'full pods are skipped',
      pods: ['a:1', 'b:1'],
      perPod: 1,
      busy: { 'a:1': 1 },
      exclude: [],
      want: 'b:1',
    },
    {
      name: 'all full → none',
      pods: ['a:1', 'b:1'],
      perPod: 1,
      busy: { 'a:1': 1, 'b:1': 1 },
      exclude: [],
      want: undefined,
    },
    {
      name: 'excluded (busy) pods are skipped',
      pods: ['a:1', 'b:1'],
      perPod: 3,
      busy: { 'b:1': 2 },
      exclude: ['a:1'],
      want: 'b:1',
    },
  ])('$name', ({ pods, perPod, busy, exclude, want }) => {
    const t = new EndpointTable();
    t.set(key, pods);
    for (const [address, n] of Object.entries(busy)) {
      for (let i = 0; i < n; i++) {
        // Load a specific pod: acquire until the lease lands on it, releasing the others.
        const others: { release(): void }[] = [];
        for (;;) {
          const l = t.acquire(key, 1000, new Set(pods.filter((p) => p !== address)));
          if (l?.address === address) break;
          if (l) others.push(l);
        }
        others.forEach((o) => o.release());
      }
    }
    expect(t.acquire(key, perPod, new Set(exclude))?.address).toBe(want);
  });

  it('spreads a burst evenly and respects concurrencyPerPod', () => {
    const t = new EndpointTable();
    t.set(key, ['a:1', 'b:1', 'c:1']);
    const leases = Array.from({ length: 6 }, () => t.acquire(key, 2));
    expect(leases.every(Boolean)).toBe(true);
    const per: Record<string, number> = {};
    for (const l of leases) per[l!.address] = (per[l!.address] ?? 0) + 1;
    expect(per).toEqual({ 'a:1': 2, 'b:1': 2, 'c:1': 2 });
    expect(t.acquire(key, 2)).toBeUndefined();
    expect(t.outstanding(key)).toBe(6);
    leases[0]!.release();
    leases[0]!.release(); // idempotent
    expect(t.outstanding(key)).toBe(5);
    expect(t.acquire(key, 2)?.address).toBe(leases[0]!.address);
  });

  it('wakes waiters when endpoints change or a slot frees', async () => {
    const t = new EndpointTable();
    const appeared = t.changed(key);
    t.set(key, ['a:1']);
    await appeared;
    const lease = t.acquire(key, 1)!;
    const freed = t.changed(key);
    lease.release();
    await freed;
    const aborted = new AbortController();
    const waiting = t.changed(key, aborted.signal);
    aborted.abort();
    await waiting;
  });

  it('keeps counts of pods that remain when endpoints change', () => {
    const t = new EndpointTable();
    t.set(key, ['a:1', 'b:1']);
    const l = t.acquire(key, 1)!;
    t.set(key, [l.address, 'c:1']);
    expect(t.acquire(key, 1)?.address).toBe('c:1');
    expect(t.acquire(key, 1)).toBeUndefined();
  });
});

describe('EndpointTable: starting pods answering a direct probe', () => {
  it('a pending endpoint marked ready is routed to before the slice says ready', () => {
    const t = new EndpointTable();
    t.set(key, [], ['10.0.0.1:8080']);
    expect(t.endpoints(key)).toEqual([]);
    expect(t.pending(key)).toEqual(['10.0.0.1:8080']);
    t.markReady(key, '10.0.0.1:8080');
    expect(t.endpoints(key)).toEqual(['10.0.0.1:8080']);
    expect(t.pending(key)).toEqual([]);
    expect(t.acquire(key, 1)?.address).toBe('10.0.0.1:8080');
  });

  it('an address that is not starting cannot be marked ready', () => {
    const t = new EndpointTable();
    t.set(key, [], ['10.0.0.1:8080']);
    t.markReady(key, '10.0.0.2:8080');
    expect(t.endpoints(key)).toEqual([]);
  });

  it('stays ready when the slice catches up, and goes when the slice drops the pod', () => {
    const t = new EndpointTable();
    t.set(key, [], ['10.0.0.1:8080']);
    t.markReady(key, '10.0.0.1:8080');
    t.set(key, ['10.0.0.1:8080']);
    expect(t.endpoints(key)).toEqual(['10.0.0.1:8080']);
    t.set(key, []);
    expect(t.endpoints(key)).toEqual([]);
    // Starting again later (a new pod at the same address) needs a new probe.
    t.set(key, [], ['10.0.0.1:8080']);
    expect(t.endpoints(key)).toEqual([]);
  });

  it('wakes waiters when a probe makes a pod ready', async () => {
    const t = new EndpointTable();
    t.set(key, [], ['10.0.0.1:8080']);
    const woke = t.changed(key);
    t.markReady(key, '10.0.0.1:8080');
    await expect(woke).resolves.toBeUndefined();
  });
});
