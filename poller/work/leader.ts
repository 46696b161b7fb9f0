import type { Logger } from '../../lib/log.js';
import type { Autoscaler } from '../autoscaler/autoscaler.js';
import { acquireOrRenew, release, type LeaseStore } from './leases.js';

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
 * Runs the autoscaler on exactly one replica: the holder of the autoscaler lease decides every
 * `intervalMs` and renews every `renewSeconds`; it stops deciding as soon as its lease could have
 * expired without a renewal, so two replicas never write replicas at the same time.
 */
export class AutoscalerLeader {
  private timer: NodeJS.Timeout | undefined;
  private heldUntil = 0;
  private lastRenew = 0;
  private stopped = false;
  private running: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(private readonly o: AutoscalerLeaderOptions) {
    this.now = o.now ?? Date.now;
  }

  get leading(): boolean {
    return this.now() < this.heldUntil;
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
    const now = this.now();
    if (now - this.lastRenew >= this.o.renewSeconds * 1000 || !this.leading) {
      const was = this.leading;
      try {
        const held = await acquireOrRenew(
          this.o.leases,
          AUTOSCALER_LEASE,
          'autoscaler',
          this.o.identity,
          this.o.leaseSeconds,
          now,
        );
        this.lastRenew = now;
        // Stop a little before the lease could lapse, so a successor never overlaps.
        this.heldUntil = held ? now + (this.o.leaseSeconds - this.o.renewSeconds / 2) * 1000 : 0;
      } catch (err) {
        this.o.log.warn({ err }, 'autoscaler lease: renewal failed');
      }
      if (this.leading && !was) {
        this.o.autoscaler.reset();
        this.o.log.info({ identity: this.o.identity }, 'autoscaling here');
      }
    }
    if (!this.leading) return;
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
    if (this.leading) await release(this.o.leases, AUTOSCALER_LEASE, this.o.identity).catch(() => undefined);
    this.heldUntil = 0;
  }
}
