/**
 * The autoscaler's decision for one function version, as a pure function of what it observed
 * and the little state it carries between ticks. No clocks, no clients: the loop in
 * autoscaler.ts feeds it and writes the result.
 */

export interface ScalingPolicy {
  minReplicas: number;
  maxReplicas: number;
  concurrencyPerPod: number;
  scaleToZeroAfterSeconds: number;
  /** The function's reserved concurrency: caps replicas at ceil(reserved / concurrencyPerPod); 0 stops it. */
  reservedConcurrency?: number;
}

export interface ScalingWindows {
  /** Scale-down looks back this far and keeps the highest recommendation seen (no flapping). */
  stableWindowMs: number;
  /** At most `burstReplicas` replicas are added within any burst window (Lambda: 1,000 per 10 s). */
  burstWindowMs: number;
  burstReplicas: number;
}

export const DEFAULT_WINDOWS: ScalingWindows = {
  stableWindowMs: 60_000,
  burstWindowMs: 10_000,
  burstReplicas: 100,
};

/** Demand right now. `error` says a part could not be read (e.g. a missing consumer). */
export interface Demand {
  /** Synchronous calls in flight (and waiting for a pod) across all gateways. */
  inflight: number;
  /** Messages waiting in the version's async consumer and its mappings' consumers. */
  backlog: number;
  error?: string;
}

export interface ScaleState {
  /** Recommendations within the stable window. */
  history: { at: number; replicas: number }[];
  /** Replicas added recently (for the burst limit). */
  increases: { at: number; by: number }[];
  /** Last time there was demand (or someone else scaled it up, e.g. a gateway activating it). */
  lastActiveAt?: number;
  /** What this autoscaler last set. */
  lastDesired?: number;
}

export const emptyState = (): ScaleState => ({ history: [], increases: [] });

export interface DecisionInput {
  now: number;
  /** spec.replicas of the Deployment. */
  current: number;
  policy: ScalingPolicy;
  windows: ScalingWindows;
  demand: Demand;
  state: ScaleState;
}

export interface Decision {
  desired: number;
  reason: string;
  state: ScaleState;
}

function bounds(p: ScalingPolicy): { floor: number; cap: number; capReason: string } {
  let cap = p.maxReplicas;
  let capReason = `maxReplicas ${p.maxReplicas}`;
  if (p.reservedConcurrency !== undefined) {
    const byReserved = Math.ceil(p.reservedConcurrency / Math.max(1, p.concurrencyPerPod));
    if (byReserved < cap) {
      cap = byReserved;
      capReason = `reserved concurrency ${p.reservedConcurrency}`;
    }
  }
  return { floor: Math.min(p.minReplicas, cap), cap, capReason };
}

function noteActivity(input: DecisionInput, total: number): number | undefined {
  const { now, current, state } = input;
  if (total > 0) return now;
  // Raised by someone else (a gateway's scale-from-zero): count as activity, so it is not undone at once.
  if (state.lastDesired !== undefined && current > state.lastDesired) return now;
  if (state.lastActiveAt === undefined && current > 0) return now;
  return state.lastActiveAt;
}

function limitBurst(
  desired: number,
  current: number,
  now: number,
  w: ScalingWindows,
  increases: ScaleState['increases'],
): { desired: number; limited: boolean } {
  if (desired <= current) return { desired, limited: false };
  const used = increases.filter((i) => now - i.at < w.burstWindowMs).reduce((a, i) => a + i.by, 0);
  const allowed = Math.max(current === 0 ? 1 : 0, w.burstReplicas - used);
  if (desired - current <= allowed) return { desired, limited: false };
  return { desired: current + allowed, limited: true };
}

/**
 * desired = ceil((in-flight + backlog) / concurrencyPerPod):
 * - activation: any demand takes 0 to at least 1 at once;
 * - scale-out at once (up to `burstReplicas` per burst window);
 * - scale-in only to the highest recommendation of the stable window;
 * - one replica stays until there was no demand for `scaleToZeroAfterSeconds`, then zero;
 * - bounded by min/max and reserved concurrency (which wins over minReplicas);
 * - when demand could not be read completely, never scale in: hold, or scale out on what is known.
 */
export function decide(input: DecisionInput): Decision {
  const { now, current, policy, windows, demand } = input;
  const total = Math.max(0, demand.inflight) + Math.max(0, demand.backlog);
  const cpp = Math.max(1, policy.concurrencyPerPod);
  const raw = Math.ceil(total / cpp);
  const lastActiveAt = noteActivity(input, total);
  const history = [
    ...input.state.history.filter((h) => now - h.at < windows.stableWindowMs),
    { at: now, replicas: raw },
  ];
  const stableMax = Math.max(...history.map((h) => h.replicas));
  const idleMs = lastActiveAt === undefined ? Infinity : now - lastActiveAt;
  const idleElapsed = total === 0 && idleMs >= policy.scaleToZeroAfterSeconds * 1000;

  let desired: number;
  let reason: string;
  if (demand.error !== undefined) {
    desired = Math.max(current, raw);
    reason = `holding: demand incomplete (${demand.error})`;
  } else if (current === 0 && total > 0) {
    desired = raw;
    reason = `activation: demand ${total} (in-flight ${demand.inflight}, backlog ${demand.backlog})`;
  } else if (raw > current) {
    desired = raw;
    reason = `scale-out: demand ${total} / ${cpp} per pod`;
  } else if (idleElapsed && current > 0) {
    desired = 0;
    reason = `scale-to-zero: idle for ${Math.round(idleMs / 1000)}s`;
  } else if (stableMax < current) {
    desired = Math.max(stableMax, current > 0 ? 1 : 0);
    reason =
      stableMax === 0
        ? `keeping 1 warm until ${policy.scaleToZeroAfterSeconds}s idle`
        : `scale-in: highest demand in the stable window needs ${stableMax}`;
  } else {
    desired = current;
    reason = `steady: demand ${total}`;
  }

  const { floor, cap, capReason } = bounds(policy);
  if (desired > cap) {
    desired = cap;
    reason += `; bounded by ${capReason}`;
  }
  const burst = limitBurst(desired, current, now, windows, input.state.increases);
  if (burst.limited) reason += `; burst limit ${windows.burstReplicas} per ${windows.burstWindowMs / 1000}s`;
  desired = burst.desired;
  if (desired < floor) {
    desired = floor;
    reason += `; bounded by minReplicas ${policy.minReplicas}`;
  }

  const increases = input.state.increases.filter((i) => now - i.at < windows.burstWindowMs);
  if (desired > current) increases.push({ at: now, by: desired - current });
  return {
    desired,
    reason,
    state: {
      history,
      increases,
      ...(lastActiveAt !== undefined ? { lastActiveAt } : {}),
      lastDesired: desired,
    },
  };
}
