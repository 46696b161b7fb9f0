import { workloadName } from '../../api/naming.js';
import type { Logger } from '../../lib/index.js';
import type { GatewayMetrics } from '../metrics.js';
import { workloadKey, type EndpointRouter } from '../routing/router.js';

/** What the activator needs to know about a version's Deployment. */
export interface WorkloadStatus {
  /** False when the Deployment does not exist (yet). */
  exists: boolean;
  /** Desired replicas (spec.replicas). */
  replicas: number;
  /** Set when pods cannot start (crash loop, image pull failure, progress deadline exceeded). */
  failure?: string;
}

/** The Kubernetes-facing half of scale-from-zero (kube-scaler.ts; a fake in tests). */
export interface Scaler {
  /** Sets replicas to 1 if — and only if — they are 0 (never fights the autoscaler). True if it scaled. */
  scaleFromZero(namespace: string, deployment: string, selector: Record<string, string>): Promise<boolean>;
  status(namespace: string, deployment: string, selector: Record<string, string>): Promise<WorkloadStatus>;
}

/** The outcome of waiting for a function version to have a ready pod. "Gave up" is explicit. */
export type ActivationResult =
  | { kind: 'ready' }
  | { kind: 'gave-up'; reason: string }
  | { kind: 'timed-out'; waitedMs: number };

export interface ActivationTarget {
  namespace: string;
  function: string;
  version: string;
}

export interface ActivatorOptions {
  scaler: Scaler;
  router: EndpointRouter;
  metrics: GatewayMetrics;
  log: Logger;
  /** How often the Deployment's status is checked while waiting. */
  pollIntervalMs?: number;
  /** How long a missing Deployment is tolerated (the controller may be creating it). */
  missingGraceMs?: number;
  /**
   * Asks a starting pod (`host:port`) whether it is ready — its runtime's `/readyz`, what the
   * kubelet asks — so a cold call goes to it without waiting for the kubelet's next probe and the
   * EndpointSlice's update. Default: HTTP GET with a 500 ms bound.
   */
  probe?: (address: string, signal: AbortSignal) => Promise<boolean>;
  /** How often starting pods are probed while an activation waits. */
  probeIntervalMs?: number;
  now?: () => number;
}

/** GET http://ADDRESS/readyz: true on 200. */
export async function probeReadyz(address: string, signal: AbortSignal): Promise<boolean> {
  try {
    const res = await fetch(`http://${address}/readyz`, {
      signal: AbortSignal.any([signal, AbortSignal.timeout(500)]),
    });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

interface Activation {
  promise: Promise<ActivationResult>;
  /** The latest deadline of the calls sharing it; extended by calls that arrive later. */
  deadline: number;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * Scale from zero. A call that finds no ready pod asks `activate()`: the first such call for a
 * version scales its Deployment to 1 (if at 0) and waits for a ready endpoint; concurrent calls
 * share that one in-flight activation. The result is `ready`, `gave-up` (the function cannot
 * start: the caller answers 502) or `timed-out` (the caller's own bound passed while the pod was
 * still starting — never reported as a start failure).
 */
export class Activator {
  private readonly inFlight = new Map<string, Activation>();
  private readonly pollIntervalMs: number;
  private readonly missingGraceMs: number;
  private readonly probeIntervalMs: number;
  private readonly probe: (address: string, signal: AbortSignal) => Promise<boolean>;
  private readonly now: () => number;

  constructor(private readonly opts: ActivatorOptions) {
    this.pollIntervalMs = opts.pollIntervalMs ?? 500;
    this.missingGraceMs = opts.missingGraceMs ?? 10_000;
    this.probeIntervalMs = opts.probeIntervalMs ?? 100;
    this.probe = opts.probe ?? probeReadyz;
    this.now = opts.now ?? Date.now;
  }

  /** Activations currently running (one per version at most). */
  get activeCount(): number {
    return this.inFlight.size;
  }

  async activate(
    target: ActivationTarget,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<ActivationResult> {
    const key = workloadKey(target.namespace, target.function, target.version);
    if (this.opts.router.endpoints(key).length > 0) return { kind: 'ready' };
    const started = this.now();
    const deadline = started + timeoutMs;
    let a = this.inFlight.get(key);
    if (a) {
      a.deadline = Math.max(a.deadline, deadline);
    } else {
      const created: Activation = { deadline, promise: Promise.resolve({ kind: 'ready' }) };
      created.promise = this.run(target, key, created).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, created);
      a = created;
    }
    const result = await this.raceOwnBound(a.promise, deadline, signal);
    return result ?? { kind: 'timed-out', waitedMs: this.now() - started };
  }

  /** Waits for the shared activation, but no longer than this caller's own deadline. */
  private async raceOwnBound(
    shared: Promise<ActivationResult>,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<ActivationResult | undefined> {
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await Promise.race([
        shared,
        sleep(Math.max(0, deadline - this.now()), stop.signal).then(() => undefined),
      ]);
    } finally {
      stop.abort();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private async run(target: ActivationTarget, key: string, state: Activation): Promise<ActivationResult> {
    const { scaler, metrics, log } = this.opts;
    const name = workloadName(target.function, target.version);
    const selector = {
      'sluice.dev/function': target.function,
      'sluice.dev/version': key.split('/')[2] ?? '',
    };
    const labels = { namespace: target.namespace, function: target.function, version: target.version };
    const started = this.now();
    const alog = log.child({ ...labels, deployment: name });
    const scale = async (): Promise<void> => {
      try {
        if (await scaler.scaleFromZero(target.namespace, name, selector)) alog.info('scaled from zero');
      } catch (err) {
        alog.warn({ err }, 'scale from zero failed; waiting for the status to tell why');
      }
    };
    await scale();
    const probing = new AbortController();
    void this.probeStarting(key, probing.signal);
    let result: ActivationResult;
    try {
      result = await this.waitReady(target, key, name, selector, state, started, scale);
    } finally {
      probing.abort();
    }
    const seconds = (this.now() - started) / 1000;
    const outcome = result.kind === 'ready' ? 'success' : result.kind === 'gave-up' ? 'failed' : 'timeout';
    metrics.coldStarts.inc({ ...labels, outcome });
    metrics.activationDuration.observe({ ...labels, outcome }, seconds);
    if (result.kind === 'gave-up') alog.warn({ reason: result.reason }, 'activation gave up');
    else alog.info({ seconds, outcome }, 'activation finished');
    return result;
  }

  /** Probes the workload's starting pods until aborted; a pod that answers ready is routed to at once. */
  private async probeStarting(key: string, signal: AbortSignal): Promise<void> {
    const { router } = this.opts;
    while (!signal.aborted) {
      const starting = router.pending(key);
      const answers = await Promise.all(starting.map((a) => this.probe(a, signal)));
      starting.forEach((a, i) => {
        if (answers[i] && !signal.aborted) router.markReady(key, a);
      });
      await sleep(this.probeIntervalMs, signal);
    }
  }

  private async waitReady(
    target: ActivationTarget,
    key: string,
    name: string,
    selector: Record<string, string>,
    state: Activation,
    started: number,
    scale: () => Promise<void>,
  ): Promise<ActivationResult> {
    const { scaler, router } = this.opts;
    for (;;) {
      if (router.endpoints(key).length > 0) return { kind: 'ready' };
      if (this.now() >= state.deadline) return { kind: 'timed-out', waitedMs: this.now() - started };
      const status = await scaler.status(target.namespace, name, selector).catch(() => undefined);
      if (router.endpoints(key).length > 0) return { kind: 'ready' };
      if (status?.failure) return { kind: 'gave-up', reason: status.failure };
      if (status && !status.exists && this.now() - started >= this.missingGraceMs) {
        return {
          kind: 'gave-up',
          reason: `no Deployment ${target.namespace}/${name} exists for version ${target.version}`,
        };
      }
      // Scaled back to zero while we wait (e.g. a scale-to-zero decision raced us): ask again.
      if (status?.exists && status.replicas === 0) await scale();
      const tick = new AbortController();
      await Promise.race([
        router.changed(key, tick.signal),
        sleep(Math.min(this.pollIntervalMs, Math.max(0, state.deadline - this.now())), tick.signal),
      ]);
      tick.abort();
    }
  }
}
