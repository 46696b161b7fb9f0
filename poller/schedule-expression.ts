import { Cron } from 'croner';
import { ValidationError } from '../lib/errors.js';

/**
 * Schedule expressions as EventBridge writes them:
 * - `rate(N unit)` with unit minute(s), hour(s), day(s) — and second(s), which Sluice allows for
 *   tests and short intervals. Ticks are anchored at the mapping's creation time, so every poller
 *   replica computes the same ticks.
 * - `cron(Minutes Hours Day-of-month Month Day-of-week Year)`: six fields, `?` in one of the two
 *   day fields, day-of-week 1-7 = SUN-SAT (or names), `L`, `W`, `#`, `/` steps such as `0/5`.
 *   Evaluated by croner (no dependencies, maintained, supports the year field, Quartz weekday
 *   numbering and time zones).
 */
export type Schedule =
  | { kind: 'rate'; periodMs: number; expression: string }
  | { kind: 'cron'; cron: Cron; expression: string };

const RATE = /^rate\(\s*([1-9][0-9]*)\s+(second|seconds|minute|minutes|hour|hours|day|days)\s*\)$/;
const UNIT_MS: Record<string, number> = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000 };

export function parseSchedule(expression: string, timezone = 'UTC'): Schedule {
  const expr = expression.trim();
  const rate = RATE.exec(expr);
  if (rate) {
    const n = Number(rate[1]);
    const unit = (rate[2] ?? '').replace(/s$/, '');
    if ((n === 1) !== !(rate[2] ?? '').endsWith('s')) {
      throw new ValidationError(
        `spec.source.schedule.expression "${expr}": use the singular unit for 1 and the plural otherwise (rate(1 minute), rate(5 minutes))`,
      );
    }
    return { kind: 'rate', periodMs: n * (UNIT_MS[unit] ?? 0), expression: expr };
  }
  const cron = /^cron\((.*)\)$/.exec(expr);
  if (!cron) {
    throw new ValidationError(
      `spec.source.schedule.expression "${expr}" must be rate(N unit) or cron(Minutes Hours Day-of-month Month Day-of-week Year)`,
    );
  }
  const fields = (cron[1] ?? '').trim().split(/\s+/);
  if (fields.length !== 6) {
    throw new ValidationError(
      `spec.source.schedule.expression "${expr}": cron takes 6 fields (Minutes Hours Day-of-month Month Day-of-week Year), got ${fields.length}`,
    );
  }
  const [, , dom, , dow] = fields as [string, string, string, string, string, string];
  if ((dom === '?') === (dow === '?')) {
    throw new ValidationError(
      `spec.source.schedule.expression "${expr}": exactly one of Day-of-month and Day-of-week must be "?"`,
    );
  }
  try {
    const c = new Cron(`0 ${fields.join(' ')}`, {
      mode: '7-part',
      alternativeWeekdays: true,
      sloppyRanges: true,
      timezone,
      paused: true,
    });
    return { kind: 'cron', cron: c, expression: expr };
  } catch (cause) {
    throw new ValidationError(`spec.source.schedule.expression "${expr}": ${(cause as Error).message}`, {
      cause,
    });
  }
}

/** The first tick strictly after `after` (ms); rates count from `anchorMs`. Undefined when none is left. */
export function nextTick(s: Schedule, afterMs: number, anchorMs: number): number | undefined {
  if (s.kind === 'rate') {
    if (afterMs < anchorMs) return anchorMs + s.periodMs;
    const k = Math.floor((afterMs - anchorMs) / s.periodMs) + 1;
    return anchorMs + k * s.periodMs;
  }
  const next = s.cron.nextRun(new Date(afterMs));
  return next ? next.getTime() : undefined;
}

/** Ticks in (fromMs, toMs], oldest first, at most `limit`. */
export function ticksBetween(
  s: Schedule,
  fromMs: number,
  toMs: number,
  anchorMs: number,
  limit = 100,
): number[] {
  const out: number[] = [];
  let t = nextTick(s, fromMs, anchorMs);
  while (t !== undefined && t <= toMs && out.length < limit) {
    out.push(t);
    t = nextTick(s, t, anchorMs);
  }
  return out;
}
