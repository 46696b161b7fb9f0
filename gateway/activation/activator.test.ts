import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GatewayMetrics } from '../metrics.js';
import { EndpointTable, workloadKey } from '../routing/router.js';
import { FakeScaler, silentLogger } from '../../test/support/gateway/fakes.js';
import { Activator, type ActivationResult } from './activator.js';

// Fake timers: pods "start", statuses are polled and probes answer on a clock the test moves, so
// every bound below is exact, whatever the machine's load. The activator reads that clock too
// (its default `now` is Date.now, faked).
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Lets `ms` of (fake) time pass and returns what `p` settled to: it must have settled by then. */
async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let settled = false;
  const tracked = p.finally(() => {
    settled = true;
  });
  await vi.advanceTimersByTimeAsync(ms);
  expect(settled, `settled within ${ms} ms`).toBe(true);
  return tracked;
}

const target = { namespace: 'default', function: 'hello', version: '$LATEST' };
const key = workloadKey('default', 'hello', '$LATEST');

function setup(opts: { startDelayMs?: number; failure?: string; missing?: boolean } = {}) {
  const table = new EndpointTable();
  const scaler = new FakeScaler(table, () => ['10.0.0.1:8080'], opts.startDelayMs ?? 50);
  if (opts.failure) scaler.failure = opts.failure;
  if (opts.missing) scaler.missing.add('default/hello-latest');
  const registry = new Registry();
  const metrics = new GatewayMetrics(registry);
  const activator = new Activator({
    scaler,
    router: table,
    metrics,
    log: silentLogger(),
    pollIntervalMs: 20,
    missingGraceMs: 100,
  });
  const coldStarts = async (outcome: string): Promise<number> =>
    (await metrics.coldStarts.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
  return { table, scaler, activator, coldStarts };
}

describe('Activator', () => {
  it('20 concurrent cold calls share one activation and all become ready', async () => {
    const { scaler, activator, coldStarts, table } = setup({ startDelayMs: 100 });
    const results = await within(
      5000,
      Promise.all(Array.from({ length: 20 }, () => activator.activate(target, 5000))),
    );
    expect(results.every((r) => r.kind === 'ready')).toBe(true);
    expect(scaler.scaledUp).toBe(1);
    expect(scaler.scaleCalls).toBe(1);
    expect(await coldStarts('success')).toBe(1);
    expect(table.endpoints(key)).toEqual(['10.0.0.1:8080']);
    expect(activator.activeCount).toBe(0);
  });

  it.each([
    { name: 'ready endpoints: nothing to do', pre: true, want: 'ready', scaled: 0 },
    { name: 'no endpoints: scales from zero', pre: false, want: 'ready', scaled: 1 },
  ])('$name', async ({ pre, want, scaled }) => {
    const { table, scaler, activator } = setup();
    if (pre) table.set(key, ['10.0.0.9:8080']);
    expect((await within(2000, activator.activate(target, 2000))).kind).toBe(want);
    expect(scaler.scaledUp).toBe(scaled);
  });

  it('gives up explicitly when the function cannot start, and counts the failed cold start', async () => {
    const { activator, coldStarts } = setup({ failure: 'CrashLoopBackOff (container function): back-off' });
    const results = await within(
      5000,
      Promise.all(Array.from({ length: 5 }, () => activator.activate(target, 5000))),
    );
    for (const r of results)
      expect(r).toEqual({ kind: 'gave-up', reason: 'CrashLoopBackOff (container function): back-off' });
    expect(await coldStarts('failed')).toBe(1);
  });

  it('gives up when the Deployment does not exist after the grace period', async () => {
    const { activator } = setup({ missing: true });
    const r = await within(5000, activator.activate(target, 5000));
    expect(r.kind).toBe('gave-up');
    expect(r.kind === 'gave-up' && r.reason).toMatch(/no Deployment default\/hello-latest/);
  });

  it('a pod still starting past the bound is a timeout, never a start failure', async () => {
    const { activator, coldStarts } = setup({ startDelayMs: 400 });
    const r = await within(100, activator.activate(target, 100));
    expect(r.kind).toBe('timed-out');
    // A later call with a longer bound joins (or restarts) the activation and gets the pod.
    expect((await within(2000, activator.activate(target, 2000))).kind).toBe('ready');
    expect(await coldStarts('failed')).toBe(0);
  });

  it('never scales a Deployment the autoscaler already scaled', async () => {
    const { scaler, activator } = setup();
    scaler.replicas.set('default/hello-latest', 3);
    const r = await within(150, activator.activate(target, 150));
    expect(r.kind).toBe('timed-out');
    expect(scaler.scaledUp).toBe(0);
  });
});

describe('Activator: probing starting pods directly', () => {
  it('routes to a starting pod as soon as it answers its readiness probe, before the slice says ready', async () => {
    const table = new EndpointTable();
    // The "slice" lists the pod as starting at once and never reports it ready.
    const scaler = new FakeScaler(table, () => [], 10_000);
    const probed: string[] = [];
    let readyAt = 0;
    const activator = new Activator({
      scaler: {
        scaleFromZero: async (ns, d, sel) => {
          const scaled = await scaler.scaleFromZero(ns, d, sel);
          table.set(key, [], ['10.0.0.7:8080']);
          readyAt = Date.now() + 80;
          return scaled;
        },
        status: (ns, d) => scaler.status(ns, d),
      },
      router: table,
      metrics: new GatewayMetrics(new Registry()),
      log: silentLogger(),
      pollIntervalMs: 1000,
      probeIntervalMs: 10,
      probe: (address) => {
        probed.push(address);
        return Promise.resolve(Date.now() >= readyAt);
      },
    });
    let result: ActivationResult | undefined;
    void activator.activate(target, 5000).then((r) => (result = r));
    // The pod answers its probe 80 ms after the scale-up: not ready before, and routed to within
    // one probe interval (10 ms) after — long before the next status poll (1 s).
    await vi.advanceTimersByTimeAsync(79);
    expect(result).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1 + 10);
    expect(result).toEqual({ kind: 'ready' });
    expect(table.endpoints(key)).toEqual(['10.0.0.7:8080']);
    expect(new Set(probed)).toEqual(new Set(['10.0.0.7:8080']));
    // Probing stops with the activation: a second of probe intervals passes without a probe.
    const n = probed.length;
    await vi.advanceTimersByTimeAsync(1000);
    expect(probed.length).toBe(n);
  });
});
