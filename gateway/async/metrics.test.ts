import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { AsyncMetrics } from './metrics.js';

const invocationsCounter = (registry: Registry): Counter =>
  new Counter({
    name: 'sluice_invocations_total',
    help: 'the gateway’s',
    labelNames: ['namespace', 'function', 'version', 'type', 'outcome'],
    registers: [registry],
  });

describe('AsyncMetrics', () => {
  it.each([
    { name: 'gateway metrics registered first', gatewayFirst: true },
    { name: 'gateway metrics registered after (before the first dispatch)', gatewayFirst: false },
  ])('shares sluice_invocations_total with the sync path: $name', async ({ gatewayFirst }) => {
    const registry = new Registry();
    const gateway = gatewayFirst ? invocationsCounter(registry) : undefined;
    const m = new AsyncMetrics(registry);
    const shared = gateway ?? invocationsCounter(registry);
    m.invocations.inc({
      namespace: 'n',
      function: 'f',
      version: '$LATEST',
      type: 'async',
      outcome: 'success',
    });
    expect(m.invocations).toBe(shared);
    expect((await shared.get()).values[0]?.value).toBe(1);
  });

  it('registers its own counter when nobody else did', async () => {
    const registry = new Registry();
    const m = new AsyncMetrics(registry);
    m.invocations.inc({ namespace: 'n', function: 'f', version: '1', type: 'async', outcome: 'timeout' });
    expect(await registry.getSingleMetricAsString('sluice_invocations_total')).toContain('outcome="timeout"');
  });
});
