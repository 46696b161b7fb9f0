import { LATEST } from '../../api/naming.js';
import type { Logger } from '../../lib/log.js';
import type { PollerMetrics } from '../metrics.js';
import {
  decide,
  emptyState,
  type Decision,
  type Demand,
  type ScaleState,
  type ScalingPolicy,
  type ScalingWindows,
} from './decide.js';

/** One version of a function that runs as a Deployment. */
export interface Workload {
  namespace: string;
  function: string;
  /** `$LATEST` or a version number. */
  version: string;
  deployment: string;
  /** spec.replicas */
  replicas: number;
  readyReplicas: number;
  policy: ScalingPolicy;
}

export const workloadKey = (namespace: string, fn: string, version: string): string =>
  `${namespace}/${fn}/${version}`;
export const keyOf = (w: Pick<Workload, 'namespace' | 'function' | 'version'>): string =>
  workloadKey(w.namespace, w.function, w.version);

/** What runs (kube.ts: Deployments + Functions + FunctionVersions; a fake in tests). */
export interface WorkloadView {
  workloads(): Workload[];
}

/** Demand per workload key: in-flight calls from gateways plus consumer backlogs. */
export interface DemandSource {
  demand(workloads: Workload[]): Promise<Map<string, Demand>>;
}

/** Writes replicas (the Deployment's scale subresource) and records why. */
export interface ScaleTarget {
  scale(w: Workload, replicas: number, decision: Decision): Promise<void>;
}

export interface DecisionRecord {
  at: string;
  workload: string;
  from: number;
  to: number;
  reason: string;
}

export interface AutoscalerOptions {
  view: WorkloadView;
  demand: DemandSource;
  target: ScaleTarget;
  windows: ScalingWindows;
  metrics: PollerMetrics;
  log: Logger;
  now?: () => number;
}

/**
 * The loop around `decide`: each tick reads every workload and its demand, decides, writes the
 * replicas that changed, and records the decision (metric, log line, a short in-memory log).
 */
export class Autoscaler {
  private readonly states = new Map<string, ScaleState>();
  private readonly log: DecisionRecord[] = [];
  private readonly now: () => number;

  constructor(private readonly o: AutoscalerOptions) {
    this.now = o.now ?? Date.now;
  }

  /** The latest decisions that changed replicas, newest last. */
  decisions(): readonly DecisionRecord[] {
    return this.log;
  }

  /** Forgets history (another replica scaled in between: start from what is observed). */
  reset(): void {
    this.states.clear();
  }

  async tick(): Promise<void> {
    const workloads = this.o.view.workloads();
    const demands = await this.o.demand.demand(workloads);
    const now = this.now();
    const live = new Set<string>();
    await Promise.all(
      workloads.map(async (w) => {
        const key = keyOf(w);
        live.add(key);
        const demand = demands.get(key) ?? { inflight: 0, backlog: 0 };
        const d = decide({
          now,
          current: w.replicas,
          policy: w.policy,
          windows: this.o.windows,
          demand,
          state: this.states.get(key) ?? emptyState(),
        });
        this.states.set(key, d.state);
        const labels = {
          namespace: w.namespace,
          function: w.function,
          version: w.version === LATEST ? 'latest' : w.version,
        };
        this.o.metrics.replicas.set({ ...labels, state: 'desired' }, d.desired);
        this.o.metrics.replicas.set({ ...labels, state: 'ready' }, w.readyReplicas);
        if (d.desired === w.replicas) return;
        try {
          await this.o.target.scale(w, d.desired, d);
        } catch (err) {
          this.o.log.warn({ err, workload: key }, 'writing replicas failed');
          return;
        }
        this.o.metrics.scaleDecisions.inc({ ...labels, direction: d.desired > w.replicas ? 'up' : 'down' });
        this.o.log.info(
          { workload: key, from: w.replicas, to: d.desired, reason: d.reason, demand },
          'scaled',
        );
        this.log.push({
          at: new Date(now).toISOString(),
          workload: key,
          from: w.replicas,
          to: d.desired,
          reason: d.reason,
        });
        if (this.log.length > 100) this.log.shift();
      }),
    );
    for (const k of this.states.keys()) {
      if (live.has(k)) continue;
      this.states.delete(k);
      const [namespace, fn, version] = k.split('/') as [string, string, string];
      for (const state of ['desired', 'ready']) {
        this.o.metrics.replicas.remove({
          namespace,
          function: fn,
          version: version === LATEST ? 'latest' : version,
          state,
        });
      }
    }
  }
}
