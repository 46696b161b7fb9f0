import { CoordinationV1Api, type KubeConfig, type V1Lease, type V1LeaseSpec } from '@kubernetes/client-node';
import type { Logger } from '../lib/log.js';
import { describeError } from '../lib/errors.js';
import { isNotFound } from './kube/client.js';

/**
 * Lease times are MicroTime: RFC 3339 with exactly six fractional digits. A Date would be sent
 * with three and be rejected (400), so the serializer gets the string (it passes strings through).
 */
export function microTime(d: Date): Date {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date;
}

/** A lease spec whose times (read back as Dates) are MicroTime strings again. */
function withMicroTimes(spec: V1LeaseSpec): V1LeaseSpec {
  const fix = (d: Date | undefined): Date | undefined => (d instanceof Date ? microTime(d) : d);
  return { ...spec, acquireTime: fix(spec.acquireTime), renewTime: fix(spec.renewTime) };
}

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseSeconds: number;
  renewSeconds: number;
}

/**
 * Leader election through a coordination.k8s.io Lease, as client-go does it: the holder renews
 * the lease; another replica takes it over only after it expired; updates use the lease's
 * resourceVersion, so two replicas can never both win. Losing the lease stops the process's
 * leading work (the caller exits, and Kubernetes restarts it as a follower).
 */
export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private stopped = false;
  private attempt: Promise<boolean> | undefined;
  private readonly tries = { total: 0, held: 0, underWay: false };

  constructor(
    kc: KubeConfig,
    private readonly opts: LeaderOptions,
    private readonly log: Logger,
  ) {
    this.api = kc.makeApiClient(CoordinationV1Api);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Acquire-or-renew attempts: how many finished, how many of those held the lease, and whether
   * one is under way (read-only, for observers such as tests).
   */
  get attempts(): { total: number; held: number; underWay: boolean } {
    return { ...this.tries };
  }

  /** Tries until it leads, then calls onStarted; calls onLost if the lease is lost afterwards. */
  start(onStarted: () => void, onLost: () => void): void {
    const tick = async (): Promise<void> => {
      if (this.stopped) return;
      this.tries.underWay = true;
      this.attempt = this.tryAcquireOrRenew().catch((err: unknown) => {
        this.log.warn(`leader election: ${describeError(err)}`);
        return false;
      });
      const held = await this.attempt;
      this.attempt = undefined;
      this.tries.underWay = false;
      // Stopped meanwhile: stop() releases the lease; an attempt that landed just before must not
      // make this elector the leader again beside its successor.
      if (this.stopped) return;
      this.tries.total++;
      if (held) this.tries.held++;
      if (held && !this.leading) {
        this.leading = true;
        this.log.info({ lease: this.opts.name, identity: this.opts.identity }, 'became leader');
        onStarted();
      } else if (!held && this.leading) {
        this.leading = false;
        this.log.error({ lease: this.opts.name }, 'lost leadership');
        onLost();
        return;
      }
      if (!this.stopped) {
        const next = this.leading ? this.opts.renewSeconds : Math.max(1, this.opts.renewSeconds / 2);
        this.timer = setTimeout(() => void tick(), next * 1000);
      }
    };
    void tick();
  }

  /** Stops renewing and releases the lease so a successor takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    // A renewal under way lands first, so the release below is the lease's last write from here.
    const inFlight = await this.attempt;
    if (!this.leading && !inFlight) return;
    this.leading = false;
    try {
      const lease = await this.api.readNamespacedLease({
        namespace: this.opts.namespace,
        name: this.opts.name,
      });
      if (lease.spec?.holderIdentity !== this.opts.identity) return;
      lease.spec = withMicroTimes({ ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 });
      await this.api.replaceNamespacedLease({
        namespace: this.opts.namespace,
        name: this.opts.name,
        body: lease,
      });
    } catch (err) {
      this.log.warn(`releasing the lease: ${describeError(err)}`);
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity, leaseSeconds } = this.opts;
    const now = new Date();
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ namespace, name });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.api.createNamespacedLease({
        namespace,
        body: {
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: leaseSeconds,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        },
      });
      return true;
    }
    const spec = lease.spec ?? {};
    const renew = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
    const expired = renew + (spec.leaseDurationSeconds ?? leaseSeconds) * 1000 < now.getTime();
    const mine = spec.holderIdentity === identity;
    if (!mine && spec.holderIdentity && !expired) return false;
    lease.spec = withMicroTimes({
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: leaseSeconds,
      renewTime: now,
      ...(mine ? {} : { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
    });
    try {
      await this.api.replaceNamespacedLease({ namespace, name, body: lease });
      return true;
    } catch (err) {
      this.log.debug(`lease update lost a race: ${describeError(err)}`);
      return false;
    }
  }
}
