import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { EnvironmentObserver, InvokeResult } from './environment.js';

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];

export interface FunctionLabels {
  namespace: string;
  function: string;
  version: string;
}

/**
 * The runtime's metrics, named as in ARCHITECTURE.md and labelled namespace/function/version.
 * `sluice_invocations_total` is the gateway's (it sees throttles and async types); the runtime's own
 * per-outcome count is `sluice_runtime_invocations_total`.
 */
export class RuntimeMetrics implements EnvironmentObserver {
  private readonly duration: Histogram<string>;
  private readonly initDuration: Histogram<string>;
  private readonly coldStarts: Counter<string>;
  private readonly concurrent: Gauge<string>;
  private readonly outcomes: Counter<string>;
  private readonly throttles: Counter<string>;
  private readonly policyWaits: Histogram<string>;

  constructor(
    registry: Registry,
    private readonly labels: FunctionLabels,
  ) {
    const names = ['namespace', 'function', 'version'];
    this.duration = new Histogram({
      name: 'sluice_invocation_duration_seconds',
      help: 'Handler time per invocation, init excluded (the Duration of the REPORT line)',
      labelNames: names,
      buckets: DURATION_BUCKETS,
      registers: [registry],
    });
    this.initDuration = new Histogram({
      name: 'sluice_init_duration_seconds',
      help: 'Time from the start of a runtime process to its first request for an event',
      labelNames: [...names, 'result'],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    });
    this.coldStarts = new Counter({
      name: 'sluice_cold_starts_total',
      help: 'Invocations served by a freshly initialised execution environment',
      labelNames: names,
      registers: [registry],
    });
    this.concurrent = new Gauge({
      name: 'sluice_concurrent_executions',
      help: 'Invocations running in this pod',
      labelNames: names,
      registers: [registry],
    });
    this.outcomes = new Counter({
      name: 'sluice_runtime_invocations_total',
      help: 'Invocations this pod ran, by outcome',
      labelNames: [...names, 'outcome'],
      registers: [registry],
    });
    this.throttles = new Counter({
      name: 'sluice_throttles_total',
      help: 'Invocations refused with 429 because every execution environment of the pod was busy',
      labelNames: names,
      registers: [registry],
    });
    this.policyWaits = new Histogram({
      name: 'sluice_policy_wait_seconds',
      help: "Time a pod's sluice-runtime waited for the pod's NetworkPolicy to be in force before running any function code (part of the first Init Duration)",
      labelNames: [...names, 'result'],
      buckets: [0, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 120, 300],
      registers: [registry],
    });
    this.concurrent.set({ ...labels }, 0);
  }

  /** Once per pod start: how long the NetworkPolicy took (`enforced`) or that it never came (`exhausted`). */
  policyWait(seconds: number, result: 'enforced' | 'exhausted'): void {
    this.policyWaits.observe({ ...this.labels, result }, seconds);
  }

  invocation(r: InvokeResult): void {
    this.duration.observe({ ...this.labels }, r.durationMs / 1000);
    if (r.initDurationMs !== undefined) this.coldStarts.inc({ ...this.labels });
    this.outcomes.inc({ ...this.labels, outcome: r.kind });
  }

  init(durationMs: number, ok: boolean): void {
    this.initDuration.observe({ ...this.labels, result: ok ? 'success' : 'error' }, durationMs / 1000);
  }

  started(): void {
    this.concurrent.inc({ ...this.labels });
  }

  ended(): void {
    this.concurrent.dec({ ...this.labels });
  }

  throttled(): void {
    this.throttles.inc({ ...this.labels });
  }
}
