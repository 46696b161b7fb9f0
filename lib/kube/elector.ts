import type { Logger } from '../log.js';
import { acquireOrRenew, release, type LeaseStore } from './leases.js';

export interface ElectorOptions {
  leases: LeaseStore;
  /** The Lease's name. */
  name: string;
  /** The lease's kind label (default `leader`). */
  kind?: string;
  identity: string;
  leaseSeconds: number;
  /** How often the holder renews (and a follower tries). */
  renewSeconds: number;
  log: Logger;
  now?: () => number;
}

/**
 * Leader election through a Lease, as client-go does it: the holder renews the lease; another
 * replica takes it over only after it expired; writes carry the lease's version, so two replicas
 * never both win. The holder counts as leading only until a little before its lease could lapse
 * without a renewal (a failed renewal does not end leadership at once, a lapsed one does), so a
 * successor never overlaps it. `step()` is one attempt (tests drive it with their own clock);
 * `start()` runs the attempts on a timer.
 */
export class LeaderElector {
  private timer: NodeJS.Timeout | undefined;
  private heldUntil = 0;
  private lastRenew = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private attempt: Promise<void> | undefined;
  private readonly tries = { total: 0, held: 0, underWay: false };
  private readonly now: () => number;

  constructor(private readonly o: ElectorOptions) {
    this.now = o.now ?? Date.now;
  }

  get isLeader(): boolean {
    return !this.stopped && this.now() < this.heldUntil;
  }

  /**
   * Acquire-or-renew attempts: how many finished, how many of those held the lease, and whether
   * one is under way (read-only, for observers such as tests).
   */
  get attempts(): { total: number; held: number; underWay: boolean } {
    return { ...this.tries };
  }

  /**
   * Renews (or tries to acquire) the lease when a renewal is due or it is not held; returns
   * whether this replica leads afterwards.
   */
  async step(): Promise<boolean> {
    const now = this.now();
    if (this.stopped) return false;
    if (this.isLeader && now - this.lastRenew < this.o.renewSeconds * 1000) return true;
    this.tries.underWay = true;
    const run = (async (): Promise<void> => {
      try {
        const held = await acquireOrRenew(
          this.o.leases,
          this.o.name,
          this.o.kind ?? 'leader',
          this.o.identity,
          this.o.leaseSeconds,
          now,
        );
        // Stopped meanwhile: isLeader stays false, and stop() releases what this attempt took.
        if (!this.stopped) {
          this.tries.total++;
          if (held) this.tries.held++;
        }
        this.lastRenew = now;
        // Stop a little before the lease could lapse, so a successor never overlaps.
        this.heldUntil = held ? now + (this.o.leaseSeconds - this.o.renewSeconds / 2) * 1000 : 0;
      } catch (err) {
        if (!this.stopped) this.tries.total++;
        this.o.log.warn({ err, lease: this.o.name }, 'leader election: renewal failed');
      }
    })();
    this.attempt = run;
    await run;
    this.attempt = undefined;
    this.tries.underWay = false;
    return this.isLeader;
  }

  /**
   * Tries until it leads, then calls onStarted; calls onLost (once) if leadership ends
   * afterwards. A follower tries twice per renew period.
   */
  start(onStarted: () => void, onLost: () => void): void {
    let leading = false;
    const tick = async (): Promise<void> => {
      if (this.stopped) return;
      const now = await this.step();
      if (this.stopped) return;
      if (now && !leading) {
        leading = true;
        this.o.log.info({ lease: this.o.name, identity: this.o.identity }, 'became leader');
        onStarted();
      } else if (!now && leading) {
        this.o.log.error({ lease: this.o.name }, 'lost leadership');
        onLost();
        return;
      }
      const next = leading ? this.o.renewSeconds : Math.max(1, this.o.renewSeconds / 2);
      this.timer = setTimeout(() => void tick(), next * 1000);
    };
    void tick();
  }

  /** Stops renewing and releases the lease so a successor takes over at once. */
  async stop(): Promise<void> {
    const wasLeader = this.now() < this.heldUntil;
    this.stopped = true;
    clearTimeout(this.timer);
    // A renewal under way lands first, so the release below is the lease's last write from here.
    await this.attempt;
    const held = wasLeader || this.now() < this.heldUntil;
    this.heldUntil = 0;
    if (!held) return;
    await release(this.o.leases, this.o.name, this.o.identity).catch((err: unknown) =>
      this.o.log.warn({ err, lease: this.o.name }, 'releasing the lease failed'),
    );
  }
}
