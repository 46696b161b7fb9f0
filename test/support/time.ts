import { cpus } from 'node:os';

/**
 * One knob for every time budget in the test suites: SLUICE_TEST_TIME_SCALE multiplies each
 * timeout (vitest's test and hook timeouts, and every wait below). Waits end as soon as their
 * condition holds, so a larger budget changes only how long a failing test takes to fail, never
 * what a test asserts. Default: 3 on a machine with 2 CPUs or fewer (a newcomer's machine runs the
 * platform from `make up` beside the suite), 1 elsewhere.
 */
export const TIME_SCALE = ((): number => {
  const raw = process.env.SLUICE_TEST_TIME_SCALE;
  if (raw === undefined || raw === '') return cpus().length <= 2 ? 3 : 1;
  const n = Number(raw);
  if (!(n > 0)) throw new Error(`SLUICE_TEST_TIME_SCALE must be a positive number, got "${raw}"`);
  return n;
})();

/** A time budget in milliseconds, scaled by SLUICE_TEST_TIME_SCALE. */
export const budget = (ms: number): number => Math.round(ms * TIME_SCALE);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls until `check` holds, or throws naming what it waited for after `timeoutMs` (scaled by the
 * knob) — the one wait of the unit and integration suites. `what` may be a function, to describe
 * the state at the time of failure.
 */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string | (() => string),
  timeoutMs = 15_000,
  intervalMs = 25,
): Promise<void> {
  const limit = budget(timeoutMs);
  const end = Date.now() + limit;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) {
      throw new Error(`timed out after ${limit} ms waiting for ${typeof what === 'string' ? what : what()}`);
    }
    await sleep(intervalMs);
  }
}
