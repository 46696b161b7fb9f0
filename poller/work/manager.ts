import { InvalidDestinationError } from '../../api/destinations.js';
import { dnsLabel } from '../../api/naming.js';
import type { EventSourceMappingResource, EventSourceMappingStatus } from '../../api/types.js';
import { describeError, ValidationError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { AccountNotReadyError } from '../../lib/nats/tenants.js';
import { ESM_FINALIZER, mappingKey, resolveMapping, type MappingConfig } from '../mapping.js';
import type { PollerMetrics } from '../metrics.js';
import { StreamNotFoundError } from '../sources/delivery.js';
import type { EventSource, SourceDeps, SourceRegistry } from '../sources/source.js';
import { setCondition } from '../../lib/kube/conditions.js';
import { acquireOrRenew, isExpired, release, type LeaseStore } from '../../lib/kube/leases.js';
import { preferredOwner } from './owner.js';

/** The API-server side of mappings (kube.ts; a fake in unit tests). */
export interface MappingApi {
  /** The mappings as last seen (an informer's cache). */
  list(): EventSourceMappingResource[];
  /** Merge-patches the status subresource. */
  patchStatus(namespace: string, name: string, status: EventSourceMappingStatus): Promise<void>;
  /** Sets metadata.finalizers (with the object's resourceVersion: a conflict throws). */
  setFinalizers(esm: EventSourceMappingResource, finalizers: string[]): Promise<void>;
}

export interface ManagerOptions {
  identity: string;
  leases: LeaseStore;
  api: MappingApi;
  sources: SourceRegistry;
  /** Source dependencies for one mapping (its `report` feeds lastProcessingResult). */
  sourceDeps: (report: (result: string) => void) => SourceDeps;
  metrics: PollerMetrics;
  log: Logger;
  leaseSeconds: number;
  /** How often leases are renewed and the world is re-read. */
  renewSeconds: number;
  now?: () => number;
}

interface Running {
  config: MappingConfig;
  generation: number;
  source: EventSource;
  lease: string;
  lastResult: string;
  backlog?: number;
  state: NonNullable<EventSourceMappingStatus['state']>;
}

type State = NonNullable<EventSourceMappingStatus['state']>;

export const memberLease = (identity: string): string => dnsLabel(`sluice-poller-${identity}`);
export const mappingLease = (namespace: string, name: string): string =>
  dnsLabel(`sluice-esm-${namespace}-${name}`);

/**
 * Shares mappings among poller replicas. Each replica renews a member lease; each mapping has a
 * lease of its own, taken by its preferred owner (rendezvous hashing over the live members) or,
 * when that lease has expired (its owner died), by any replica. An owner that is no longer the
 * preferred one hands the mapping over: it stops the source cleanly and releases the lease. The
 * owner also keeps the mapping's status and does the finalizer's cleanup on deletion.
 */
export class MappingManager {
  private readonly running = new Map<string, Running>();
  /** What this replica last wrote to each mapping's status (to write only changes). */
  private readonly written = new Map<string, string>();
  private readonly results = new Map<string, string>();
  /** Sources being stopped, by mapping key. */
  private readonly stopping = new Map<string, Promise<void>>();
  private loopDone: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly o: ManagerOptions) {
    this.now = o.now ?? Date.now;
  }

  get owned(): string[] {
    return [...this.running.keys()];
  }

  start(): void {
    this.loopDone = this.loop();
  }

  /** Re-reads everything now (an informer saw a change). */
  nudge(): void {
    this.wake?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.tick();
      } catch (err) {
        this.o.log.warn({ err }, 'mapping work sharing failed; retrying');
      }
      if (this.stopped) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, this.o.renewSeconds * 1000);
        this.wake = done;
        function done(): void {
          clearTimeout(t);
          resolve();
        }
      });
      this.wake = undefined;
    }
  }

  /** One pass: renew membership, read members and mappings, take, keep, hand over or clean up. */
  async tick(): Promise<void> {
    const { leases, identity, leaseSeconds } = this.o;
    const now = this.now();
    await acquireOrRenew(leases, memberLease(identity), 'member', identity, leaseSeconds, now);
    const members = (await leases.list('member'))
      .filter((l) => !isExpired(l, now) && l.holder)
      .map((l) => l.holder as string);
    if (!members.includes(identity)) members.push(identity);
    const seen = new Set<string>();
    for (const esm of this.o.api.list()) {
      const key = mappingKey({ namespace: esm.metadata.namespace ?? '', name: esm.metadata.name ?? '' });
      seen.add(key);
      try {
        await this.reconcile(esm, key, members, now);
      } catch (err) {
        this.o.log.warn({ err, mapping: key }, 'reconciling the mapping failed');
      }
    }
    for (const [key, r] of this.running) {
      if (!seen.has(key)) this.beginStop(key, r, true);
    }
    this.o.metrics.ownedMappings.set(this.running.size);
  }

  private async reconcile(
    esm: EventSourceMappingResource,
    key: string,
    members: string[],
    now: number,
  ): Promise<void> {
    const { leases, identity, leaseSeconds } = this.o;
    const ns = esm.metadata.namespace ?? '';
    const name = esm.metadata.name ?? '';
    const leaseName = mappingLease(ns, name);
    const running = this.running.get(key);
    const preferred = preferredOwner(members, key);
    const deleting = esm.metadata.deletionTimestamp !== undefined;
    if (this.stopping.has(key)) {
      await acquireOrRenew(leases, leaseName, 'mapping', identity, leaseSeconds, now);
      return;
    }
    if (!running) {
      if (!(await this.shouldTake(leaseName, preferred === identity, deleting, now))) return;
    } else if (preferred !== identity && !deleting) {
      // Hand over to the preferred member: stop cleanly, then release.
      this.beginStop(key, running, true);
      return;
    }
    if (!(await acquireOrRenew(leases, leaseName, 'mapping', identity, leaseSeconds, now))) {
      if (running) this.beginStop(key, running, false);
      return;
    }
    if (deleting) {
      await this.finalize(esm, key, leaseName);
      return;
    }
    if (!(esm.metadata.finalizers ?? []).includes(ESM_FINALIZER)) {
      await this.o.api.setFinalizers(esm, [...(esm.metadata.finalizers ?? []), ESM_FINALIZER]);
    }
    await this.ensureRunning(esm, key, leaseName);
  }

  /** Whether to take (or keep) a mapping that does not run here. */
  private async shouldTake(
    leaseName: string,
    preferred: boolean,
    deleting: boolean,
    now: number,
  ): Promise<boolean> {
    const { leases, identity, leaseSeconds } = this.o;
    const lease = await leases.get(leaseName);
    const free = !lease || isExpired(lease, now);
    // Held by this replica with nothing running: a disabled, failed or not-yet-started mapping.
    if (lease?.holder === identity && !free) {
      if (preferred || deleting) return true;
      await release(leases, leaseName, identity, now);
      return false;
    }
    const stale = !lease || (free && (lease.renewTime ?? 0) + 2 * leaseSeconds * 1000 < now);
    return free && (preferred || stale);
  }

  private async ensureRunning(
    esm: EventSourceMappingResource,
    key: string,
    leaseName: string,
  ): Promise<void> {
    const generation = esm.metadata.generation ?? 0;
    let running = this.running.get(key);
    if (running && running.generation !== generation) {
      // Restart: the old source stops in the background; a later pass starts the new one.
      this.beginStop(key, running, false);
      return;
    }
    let config: MappingConfig;
    try {
      config = resolveMapping(esm);
    } catch (err) {
      const message = err instanceof ValidationError ? err.message : describeError(err);
      const reason = err instanceof InvalidDestinationError ? 'InvalidDestination' : 'InvalidSpec';
      if (running) this.beginStop(key, running, false);
      await this.writeStatus(esm, 'Failed', message, undefined, { reason, message });
      return;
    }
    if (!config.enabled) {
      if (running) this.beginStop(key, running, false);
      await this.writeStatus(esm, 'Disabled', this.results.get(key) ?? 'Disabled', undefined, {
        reason: 'Disabled',
        message: 'spec.enabled is false',
      });
      return;
    }
    if (!running) {
      running = await this.startMapping(esm, key, config, leaseName);
      if (!running) return;
    }
    try {
      running.backlog = await running.source.backlog();
      this.o.metrics.backlog.set(
        { namespace: config.ref.namespace, mapping: config.ref.name, function: config.target.function },
        running.backlog,
      );
    } catch (err) {
      this.o.log.debug({ err, mapping: key }, 'backlog unknown');
    }
    await this.writeStatus(esm, 'Enabled', running.lastResult, running.backlog);
  }

  private async startMapping(
    esm: EventSourceMappingResource,
    key: string,
    config: MappingConfig,
    leaseName: string,
  ): Promise<Running | undefined> {
    const report = (r: string): void => {
      this.results.set(key, r);
      const cur = this.running.get(key);
      if (cur) cur.lastResult = r;
    };
    const source = this.o.sources[config.source.kind].create(config, this.o.sourceDeps(report));
    try {
      await source.start();
    } catch (err) {
      const message = `source unavailable: ${describeError(err)}`;
      this.results.set(key, message);
      await source.close().catch(() => undefined);
      await this.writeStatus(esm, 'Creating', message, undefined, {
        reason: unavailableReason(err),
        message,
      });
      return undefined;
    }
    const running: Running = {
      config,
      generation: config.ref.generation,
      source,
      lease: leaseName,
      lastResult: this.results.get(key) ?? 'No records processed',
      state: 'Enabled',
    };
    this.running.set(key, running);
    this.o.log.info({ mapping: key, source: config.source.kind }, 'mapping started');
    return running;
  }

  /**
   * Stops a source in the background — its batch in flight may take the grace period — so the
   * pass goes on renewing the other leases. Until it has stopped, the mapping's lease is kept
   * (renewed) and the mapping is not started again here.
   */
  private beginStop(key: string, r: Running, releaseLease: boolean): void {
    this.running.delete(key);
    const done = r.source
      .close()
      .catch((err: unknown) => this.o.log.warn({ err, mapping: key }, 'closing the source failed'))
      .then(async () => {
        if (releaseLease) {
          await release(this.o.leases, r.lease, this.o.identity, this.now()).catch(() => undefined);
        }
        this.o.log.info({ mapping: key }, 'mapping stopped');
      })
      .finally(() => {
        this.stopping.delete(key);
        this.wake?.();
      });
    this.stopping.set(key, done);
  }

  /** Deletion: stop, remove consumers and checkpoints, drop the finalizer and the lease. */
  private async finalize(esm: EventSourceMappingResource, key: string, leaseName: string): Promise<void> {
    const running = this.running.get(key);
    if (running) this.beginStop(key, running, false);
    // Clean up once the source has stopped (a later pass).
    if (this.stopping.has(key) || !(esm.metadata.finalizers ?? []).includes(ESM_FINALIZER)) return;
    await this.writeStatus(esm, 'Deleting', 'Cleaning up consumers and checkpoints');
    let config: MappingConfig | undefined;
    try {
      config = resolveMapping(esm);
    } catch {
      config = undefined; // an invalid spec never ran: nothing to clean
    }
    if (config) {
      const deps = this.o.sourceDeps(() => undefined);
      await this.o.sources[config.source.kind].cleanup(config, deps);
    }
    await this.o.api.setFinalizers(
      esm,
      (esm.metadata.finalizers ?? []).filter((f) => f !== ESM_FINALIZER),
    );
    await this.o.leases.delete(leaseName);
    this.written.delete(key);
    this.o.log.info({ mapping: key }, 'mapping deleted; consumers removed');
  }

  private async writeStatus(
    esm: EventSourceMappingResource,
    state: State,
    lastProcessingResult: string,
    backlog?: number,
    problem?: { reason: string; message: string },
  ): Promise<void> {
    const ns = esm.metadata.namespace ?? '';
    const name = esm.metadata.name ?? '';
    const key = mappingKey({ namespace: ns, name });
    const fingerprint = JSON.stringify([
      state,
      lastProcessingResult,
      backlog,
      problem,
      esm.metadata.generation,
    ]);
    if (this.written.get(key) === fingerprint) return;
    const status = buildStatus({
      prev: esm.status,
      generation: esm.metadata.generation ?? 0,
      state,
      owner: this.o.identity,
      lastProcessingResult,
      ...(backlog !== undefined ? { backlog } : {}),
      ...(problem ? { problem } : {}),
      now: new Date(this.now()).toISOString(),
    });
    await this.o.api.patchStatus(ns, name, status);
    this.written.set(key, fingerprint);
  }

  /** Stops every source (they finish or hand back their batches) and releases the leases. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loopDone;
    for (const [key, r] of [...this.running]) this.beginStop(key, r, true);
    await Promise.allSettled([...this.stopping.values()]);
    await release(this.o.leases, memberLease(this.o.identity), this.o.identity, this.now()).catch(
      () => undefined,
    );
  }
}

/**
 * Why a source could not start: the namespace has no NATS account yet (or is past the budget),
 * the stream is not in the namespace's account, or anything else (NATS down…).
 */
export function unavailableReason(err: unknown): string {
  if (err instanceof AccountNotReadyError) return err.reason;
  if (err instanceof StreamNotFoundError) return 'StreamNotFound';
  return 'SourceUnavailable';
}

export interface StatusInput {
  prev?: EventSourceMappingStatus;
  generation: number;
  state: State;
  owner: string;
  lastProcessingResult: string;
  backlog?: number;
  problem?: { reason: string; message: string };
  now: string;
}

/** The mapping's status: state, owner, last result, backlog, a Ready condition (setCondition: transition time kept while its status holds). */
export function buildStatus(i: StatusInput): EventSourceMappingStatus {
  const ready = i.state === 'Enabled';
  const conditions = setCondition(
    i.prev?.conditions,
    {
      type: 'Ready',
      status: ready ? 'True' : 'False',
      reason: ready ? 'Polling' : (i.problem?.reason ?? i.state),
      message: (ready ? `Polled by ${i.owner}` : (i.problem?.message ?? i.state)).slice(0, 1024),
    },
    i.generation,
    i.now,
  );
  return {
    state: i.state,
    owner: i.owner,
    lastProcessingResult: i.lastProcessingResult.slice(0, 1024),
    ...(i.backlog !== undefined ? { backlog: i.backlog } : {}),
    observedGeneration: i.generation,
    conditions,
    ...(i.prev?.state !== i.state ? { lastModified: i.now } : {}),
  };
}
