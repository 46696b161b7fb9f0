import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { EventSourceMappingResource, EventSourceMappingStatus } from '../../api/types.js';
import { createLogger } from '../../lib/log.js';
import { ESM_FINALIZER, type MappingConfig } from '../mapping.js';
import { PollerMetrics } from '../metrics.js';
import type { EventSource, SourceDeps, SourceRegistry } from '../sources/source.js';
import { MemoryLeaseStore } from '../../test/support/memory-leases.js';
import { preferredOwner } from './owner.js';
import { buildStatus, MappingManager, type MappingApi } from './manager.js';

const log = createLogger({ component: 'test', level: 'silent' });

class FakeApi implements MappingApi {
  items = new Map<string, EventSourceMappingResource>();
  statuses = new Map<string, EventSourceMappingStatus>();
  list(): EventSourceMappingResource[] {
    return [...this.items.values()].map((e) => ({
      ...e,
      status: this.statuses.get(e.metadata.name ?? '') ?? {},
    }));
  }
  patchStatus(_ns: string, name: string, status: EventSourceMappingStatus): Promise<void> {
    this.statuses.set(name, { ...this.statuses.get(name), ...status });
    return Promise.resolve();
  }
  setFinalizers(esm: EventSourceMappingResource, finalizers: string[]): Promise<void> {
    const cur = this.items.get(esm.metadata.name ?? '');
    if (!cur) return Promise.resolve();
    if (cur.metadata.deletionTimestamp && finalizers.length === 0) this.items.delete(esm.metadata.name ?? '');
    else cur.metadata = { ...cur.metadata, finalizers };
    return Promise.resolve();
  }
  add(name: string, spec: Partial<EventSourceMappingResource['spec']> = {}): void {
    this.items.set(name, {
      apiVersion: 'sluice.dev/v1alpha1',
      kind: 'EventSourceMapping',
      metadata: { name, namespace: 'ns', uid: `uid-${name}`, generation: 1, creationTimestamp: new Date(0) },
      spec: { function: 'f', source: { natsQueue: { stream: 'S' } }, ...spec },
    });
  }
}

/** Sources that record who runs what, and when. */
class Ledger {
  /** Mappings whose source never finishes closing (a batch stuck in flight). */
  stuck = new Set<string>();
  events: { who: string; mapping: string; what: 'start' | 'close' }[] = [];
  cleaned: string[] = [];
  runningNow(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const e of this.events) {
      const cur = out.get(e.mapping) ?? [];
      out.set(e.mapping, e.what === 'start' ? [...cur, e.who] : cur.filter((w) => w !== e.who));
    }
    return out;
  }
  registry(who: string): SourceRegistry {
    const impl = {
      create: (m: MappingConfig): EventSource => ({
        start: () => {
          this.events.push({ who, mapping: m.ref.name, what: 'start' });
          return Promise.resolve();
        },
        backlog: () => Promise.resolve(7),
        close: () => {
          if (this.stuck.has(m.ref.name)) return new Promise<void>(() => undefined);
          this.events.push({ who, mapping: m.ref.name, what: 'close' });
          return Promise.resolve();
        },
      }),
      cleanup: (m: MappingConfig) => {
        this.cleaned.push(m.ref.name);
        return Promise.resolve();
      },
    };
    return { natsQueue: impl, natsStream: impl, schedule: impl };
  }
}

function setup(names: string[]) {
  const api = new FakeApi();
  for (const n of names) api.add(n);
  const leases = new MemoryLeaseStore();
  const ledger = new Ledger();
  let now = 1_000_000;
  const make = (identity: string): MappingManager =>
    new MappingManager({
      identity,
      leases,
      api,
      sources: ledger.registry(identity),
      sourceDeps: () => ({}) as SourceDeps,
      metrics: new PollerMetrics(new Registry()),
      log,
      leaseSeconds: 15,
      renewSeconds: 5,
      now: () => now,
    });
  return { api, leases, ledger, make, advance: (ms: number) => (now += ms) };
}

const NAMES = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8'];

describe('MappingManager', () => {
  it('splits mappings between replicas: each runs on exactly one', async () => {
    const { make, ledger } = setup(NAMES);
    const a = make('poller-a');
    const b = make('poller-b');
    await a.tick();
    await b.tick();
    await a.tick();
    await b.tick();
    const running = ledger.runningNow();
    for (const n of NAMES) expect(running.get(n), n).toHaveLength(1);
    expect(a.owned.length).toBeGreaterThan(0);
    expect(b.owned.length).toBeGreaterThan(0);
    for (const n of NAMES)
      expect(running.get(n)?.[0]).toBe(preferredOwner(['poller-a', 'poller-b'], `ns/${n}`));
  });

  it('a new replica gets its share by clean handover, never two owners at once', async () => {
    const { make, ledger } = setup(NAMES);
    const a = make('poller-a');
    await a.tick();
    expect(a.owned).toHaveLength(NAMES.length);
    const b = make('poller-b');
    for (let i = 0; i < 3; i++) {
      await b.tick();
      for (const [m, who] of ledger.runningNow()) expect(who.length, m).toBeLessThanOrEqual(1);
      await a.tick();
      for (const [m, who] of ledger.runningNow()) expect(who.length, m).toBeLessThanOrEqual(1);
    }
    expect(a.owned.length + b.owned.length).toBe(NAMES.length);
    expect(b.owned.length).toBeGreaterThan(0);
  });

  it('a replica that handed a mapping over does not take it straight back before the new owner runs', async () => {
    const { make, ledger } = setup(NAMES);
    const a = make('poller-a');
    await a.tick();
    const b = make('poller-b');
    await b.tick(); // joins: b's share is still held by a
    await a.tick(); // hands b's share over: stops and releases
    await new Promise((r) => setTimeout(r, 0)); // the background stops finish
    await a.tick(); // the pass a finished stop wakes: must not retake what it released
    await b.tick();
    const handed = NAMES.filter((n) => preferredOwner(['poller-a', 'poller-b'], `ns/${n}`) === 'poller-b');
    expect(handed.length).toBeGreaterThan(0);
    for (const n of handed) {
      const starts = ledger.events.filter((e) => e.mapping === n && e.what === 'start').map((e) => e.who);
      expect(starts, n).toEqual(['poller-a', 'poller-b']);
    }
  });

  it('a source slow to stop does not hold up the others, and keeps its lease until it has stopped', async () => {
    const { make, ledger, advance } = setup(NAMES);
    const a = make('poller-a');
    await a.tick();
    for (const n of NAMES) ledger.stuck.add(n);
    const b = make('poller-b');
    await b.tick();
    for (let i = 0; i < 4; i++) {
      advance(5000);
      await a.tick(); // must return although every handover is stuck
      await b.tick();
    }
    // Nothing B should get has started there while A is still stopping it.
    expect(b.owned).toEqual([]);
    for (const [m, who] of ledger.runningNow()) expect(who, m).toEqual(['poller-a']);
  });

  it('when a replica dies its mappings move after the lease expires', async () => {
    const { make, ledger, advance } = setup(NAMES);
    const a = make('poller-a');
    const b = make('poller-b');
    await a.tick();
    await b.tick();
    await a.tick();
    const ofA = [...a.owned];
    expect(ofA.length).toBeGreaterThan(0);
    // A stops renewing (crashed). Before the lease runs out, B must not take A's mappings.
    advance(10_000);
    await b.tick();
    expect(b.owned.some((k) => ofA.includes(k))).toBe(false);
    advance(40_000);
    await b.tick();
    await b.tick();
    expect(b.owned.sort()).toEqual(NAMES.map((n) => `ns/${n}`).sort());
    expect(ledger.events.filter((e) => e.who === 'poller-b' && e.what === 'start')).toHaveLength(
      NAMES.length,
    );
  });

  it('adds the finalizer, writes status, and on deletion cleans up and removes the finalizer', async () => {
    const { make, api, ledger, leases } = setup(['m1']);
    const a = make('poller-a');
    await a.tick();
    expect(api.items.get('m1')?.metadata.finalizers).toEqual([ESM_FINALIZER]);
    expect(api.statuses.get('m1')).toMatchObject({
      state: 'Enabled',
      owner: 'poller-a',
      backlog: 7,
      observedGeneration: 1,
    });
    api.items.get('m1')!.metadata.deletionTimestamp = new Date();
    await a.tick(); // stops the source (in the background)
    await new Promise((r) => setImmediate(r));
    await a.tick(); // cleans up
    expect(ledger.cleaned).toEqual(['m1']);
    expect(api.items.has('m1')).toBe(false);
    expect(ledger.runningNow().get('m1')).toEqual([]);
    expect((await leases.list('mapping')).map((l) => l.name)).toEqual([]);
  });

  it.each([
    {
      name: 'disabled: stopped, state Disabled',
      change: (e: EventSourceMappingResource) => (e.spec.enabled = false),
      state: 'Disabled',
      running: [],
    },
    {
      name: 'invalid filter: state Failed with the reason',
      change: (e: EventSourceMappingResource) =>
        (e.spec.filterCriteria = { filters: [{ pattern: '{nope' }] }),
      state: 'Failed',
      running: [],
    },
    {
      name: 'a new generation restarts the source',
      change: (e: EventSourceMappingResource) => (e.metadata.generation = 2),
      state: 'Enabled',
      running: ['poller-a'],
    },
  ])('$name', async ({ change, state, running }) => {
    const { make, api, ledger } = setup(['m1']);
    const a = make('poller-a');
    await a.tick();
    change(api.items.get('m1')!);
    await a.tick();
    await new Promise((r) => setImmediate(r));
    await a.tick();
    expect(api.statuses.get('m1')?.state).toBe(state);
    expect(ledger.runningNow().get('m1')).toEqual(running);
  });
});

describe('buildStatus', () => {
  it.each([
    {
      name: 'enabled',
      input: { state: 'Enabled' as const },
      want: {
        state: 'Enabled',
        owner: 'p',
        conditions: [{ type: 'Ready', status: 'True', reason: 'Polling' }],
      },
    },
    {
      name: 'failed carries the problem',
      input: { state: 'Failed' as const, problem: { reason: 'InvalidSpec', message: 'bad filter' } },
      want: {
        state: 'Failed',
        conditions: [{ status: 'False', reason: 'InvalidSpec', message: 'bad filter' }],
      },
    },
  ])('$name', ({ input, want }) => {
    const s = buildStatus({
      generation: 3,
      owner: 'p',
      lastProcessingResult: 'OK',
      now: '2025-01-01T00:00:00Z',
      ...input,
    });
    expect(s).toMatchObject({ ...want, observedGeneration: 3, lastModified: '2025-01-01T00:00:00Z' });
  });

  it('keeps the transition time when the condition did not change', () => {
    const prev = buildStatus({
      generation: 1,
      owner: 'p',
      state: 'Enabled',
      lastProcessingResult: 'OK',
      now: 'T1',
    });
    const next = buildStatus({
      prev,
      generation: 1,
      owner: 'p',
      state: 'Enabled',
      lastProcessingResult: 'OK',
      now: 'T2',
    });
    expect(next.conditions?.[0]?.lastTransitionTime).toBe('T1');
    expect(next.lastModified).toBeUndefined();
  });
});
