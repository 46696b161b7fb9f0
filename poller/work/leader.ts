import { LeaderElector } from '../../lib/kube/elector.js';
import type { LeaseStore } from '../../lib/kube/leases.js';
import type { Logger } from '../../lib/log.js';
import type { Autoscaler } from '../autoscaler/autoscaler.js';

export const AUTOSCALER_LEASE = 'sluice-poller-autoscaler';

export interface AutoscalerLeaderOptions {
  leases: LeaseStore;
  identity: string;
  leaseSeconds: number;
  renewSeconds: number;
  intervalMs: number;
  autoscaler: Autoscaler;
  log: Logger;
  now?: () => number;
}

/**
 * Runs the autoscaler on exactly one replica: the holder of the autoscaler lease (lib/kube's
 * LeaderElector) decides every `intervalMs` and renews every `renewSeconds`; it stops deciding as
 * soon as its lease could have expired without a renewal, so two replicas never write replicas
 * at the same time.
 */
export class AutoscalerLeader {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  private readonly elector: LeaderElector;
  private wasLeading = false;

  constructor(private readonly o: AutoscalerLeaderOptions) {
    this.elector = new LeaderElector({
      leases: o.leases,
      name: AUTOSCALER_LEASE,
      kind: 'autoscaler',
      identity: o.identity,
      leaseSeconds: o.leaseSeconds,
      renewSeconds: o.renewSeconds,
      log: o.log,
      ...(o.now ? { now: o.now } : {}),
    });
  }

  get leading(): boolean {
    return this.elector.isLeader;
  }

  start(): void {
    const loop = (): void => {
      if (this.stopped) return;
      this.running = this.step().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.o.intervalMs);
      });
    };
    loop();
  }

  async step(): Promise<void> {
    const leading = await this.elector.step();
    if (leading && !this.wasLeading) {
      this.o.autoscaler.reset();
      this.o.log.info({ identity: this.o.identity }, 'autoscaling here');
    }
    this.wasLeading = leading;
    if (!leading) return;
    try {
      await this.o.autoscaler.tick();
    } catch (err) {
      this.o.log.warn({ err }, 'autoscaler tick failed');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.elector.stop();
  }
}
