import { LATEST } from '../../api/naming.js';
import { describeError } from '../../lib/errors.js';
import type { MappingConfig } from '../mapping.js';
import { stableUuid } from '../records.js';
import { nextTick, ticksBetween, type Schedule } from '../schedule-expression.js';
import { backoffMs, sleep } from './delivery.js';
import type { EventSource, SourceDeps, SourceKindImpl } from './source.js';

interface TickClaim {
  state: 'claimed' | 'done';
  owner: string;
  at: string;
  result?: string;
}

/** A claim not marked done after this long is taken to be from a replica that died mid-call. */
const STALE_CLAIM_MS = 30_000;

export const tickKey = (uid: string, tickMs: number): string => `tick.${uid}.${tickMs}`;

/** The EventBridge "Scheduled Event" a tick delivers when the mapping sets no input. */
export function scheduledEvent(m: MappingConfig, region: string, tickMs: number): Record<string, unknown> {
  return {
    version: '0',
    id: stableUuid(`${m.ref.uid}/${tickMs}`),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: m.ref.namespace,
    time: new Date(tickMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [`arn:aws:events:${region}:${m.ref.namespace}:rule/${m.ref.name}`],
    detail: {},
  };
}

/**
 * A schedule: `rate(...)` or `cron(...)`. Each tick is claimed in a KV bucket with create-if-absent
 * on `tick.<mapping uid>.<tick ms>`, so exactly one replica fires it even if two believe they own
 * the mapping, and a restarted or new owner never fires a tick again. A new owner also fires the
 * ticks of the last `scheduleCatchUpMs` that nobody claimed, and re-fires a claimed tick that was
 * not marked done within 30 s (its claimant died mid-call) with the same event id and Idempotency-Key.
 */
export class ScheduleSource implements EventSource {
  private readonly schedule: Schedule;
  private readonly stopWaiting = new AbortController();
  private closed = false;
  private loop: Promise<void> | undefined;
  private readonly firing = new Set<Promise<void>>();

  constructor(
    private readonly m: MappingConfig,
    private readonly deps: SourceDeps,
  ) {
    if (m.source.kind !== 'schedule') throw new Error('ScheduleSource needs a schedule source');
    this.schedule = m.source.schedule;
  }

  start(): Promise<void> {
    this.loop = this.run();
    return Promise.resolve();
  }

  backlog(): Promise<number> {
    return Promise.resolve(0);
  }

  private track(p: Promise<void>): void {
    this.firing.add(p);
    void p.finally(() => this.firing.delete(p));
  }

  private async run(): Promise<void> {
    const anchor = this.m.ref.createdAtMs;
    let last = Date.now();
    const from = Math.max(last - this.deps.tuning.scheduleCatchUpMs, anchor);
    for (const t of ticksBetween(this.schedule, from, last, anchor, 20)) this.track(this.fire(t, true));
    while (!this.closed) {
      const next = nextTick(this.schedule, last, anchor);
      if (next === undefined) {
        this.deps.report('Schedule has no further ticks');
        return;
      }
      await sleep(Math.max(0, next - Date.now()), this.stopWaiting.signal);
      if (this.closed) return;
      last = next;
      this.track(this.fire(next, false));
    }
  }

  /** Claims the tick; true when this replica should fire it (with the KV revision to mark it done). */
  private async claim(key: string, catchingUp: boolean): Promise<number | undefined> {
    const { ticks, identity } = this.deps;
    const value = (): string =>
      JSON.stringify({ state: 'claimed', owner: identity, at: new Date().toISOString() } satisfies TickClaim);
    const existing = await ticks.get(key);
    if (!existing || existing.operation !== 'PUT') {
      try {
        return await ticks.create(key, value());
      } catch {
        return undefined; // claimed by another replica first
      }
    }
    const claim = existing.json<TickClaim>();
    const stale = Date.now() - Date.parse(claim.at) > STALE_CLAIM_MS;
    if (!catchingUp || claim.state === 'done' || claim.owner === identity || !stale) return undefined;
    try {
      return await ticks.update(key, value(), existing.revision);
    } catch {
      return undefined;
    }
  }

  private async fire(tickMs: number, catchingUp: boolean): Promise<void> {
    const key = tickKey(this.m.ref.uid, tickMs);
    let revision: number | undefined;
    try {
      revision = await this.claim(key, catchingUp);
    } catch (err) {
      this.deps.report(`TickClaimError: ${describeError(err)}`);
      return;
    }
    if (revision === undefined) return;
    const src = this.m.source.kind === 'schedule' ? this.m.source : undefined;
    const payload = Buffer.from(
      src?.input ?? JSON.stringify(scheduledEvent(this.m, this.deps.tuning.region, tickMs)),
    );
    const result = await this.invoke(payload, key, tickMs);
    // Closed while it was still to be retried: the claim stays, and the next owner re-fires the
    // tick once the claim is stale (within its catch-up window), with the same Idempotency-Key.
    if (result === undefined) return;
    try {
      await this.deps.ticks.update(
        key,
        JSON.stringify({
          state: 'done',
          owner: this.deps.identity,
          at: new Date().toISOString(),
          result,
        } satisfies TickClaim),
        revision,
      );
    } catch (err) {
      this.deps.log.warn({ err, key }, 'marking the tick done failed');
    }
  }

  /**
   * Invokes, retrying throttles and platform errors (5xx, 404 while a function starts, 401/403 of
   * the poller's own credentials) with backoff until the tick is `scheduleMaxEventAgeMs` old; a
   * function error is the function's answer and is not retried here (Event calls retry in the
   * async pipeline). Undefined when the source closed while the tick was still to be retried.
   */
  private async invoke(payload: Buffer, key: string, tickMs: number): Promise<string | undefined> {
    const { namespace, name } = this.m.ref;
    const fn = this.m.target.function;
    const { scheduleInvocationType: type, scheduleMaxEventAgeMs, retryBaseMs, retryMaxMs } = this.deps.tuning;
    const now = this.deps.now ?? Date.now;
    for (let attempt = 1; ; attempt++) {
      const r = await this.deps.invoker.invoke({ target: this.m.target, payload, type, idempotencyKey: key });
      const outcome = r.kind === 'function_error' ? (r.timedOut ? 'timeout' : 'function_error') : r.kind;
      this.deps.metrics.invocations.inc({
        type: 'esm',
        namespace,
        function: fn,
        version: (r.kind === 'success' && r.executedVersion) || this.m.target.qualifier || LATEST,
        outcome,
      });
      this.deps.metrics.batches.inc({ namespace, mapping: name, function: fn, outcome: r.kind });
      const retryable = r.kind === 'throttled' || (r.kind === 'error' && r.retryable);
      const delay = backoffMs(attempt, retryBaseMs, retryMaxMs);
      const tooOld = now() + delay - tickMs > scheduleMaxEventAgeMs;
      const result =
        r.kind === 'success'
          ? 'OK'
          : `${outcome}: ${'message' in r ? r.message : r.payload.toString('utf8').slice(0, 200)}`;
      if (retryable && tooOld) {
        const given = `${result} (tick given up after ${attempt} attempts: older than ${scheduleMaxEventAgeMs / 1000} s)`;
        this.deps.report(given);
        this.deps.log.error({ namespace, mapping: name, function: fn, key, attempts: attempt }, given);
        return given;
      }
      this.deps.report(result);
      if (!retryable) return result;
      if (this.closed) return undefined;
      await sleep(delay, this.stopWaiting.signal);
      if (this.closed) return undefined;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopWaiting.abort();
    await Promise.race([
      Promise.allSettled([this.loop, ...this.firing]),
      sleep(this.deps.tuning.closeGraceMs),
    ]);
  }
}

export const schedule: SourceKindImpl = {
  create: (m, deps) => new ScheduleSource(m, deps),
  cleanup: () => Promise.resolve(),
};
