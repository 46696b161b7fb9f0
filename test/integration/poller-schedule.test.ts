/**
 * Schedule ticks under platform errors (issue 15): the gateway refusing the poller's own
 * credentials (401/403) or failing (5xx) is the platform's fault, not the tick's — the tick is
 * retried with backoff, with the same Idempotency-Key, until it succeeds or is older than the
 * maximum event age (EventBridge Scheduler's, 24 h by default); it used to be given up after 5
 * attempts. A real nats-server holds the tick claims.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InvokeResult } from '../../poller/invoker.js';
import { SOURCES } from '../../poller/sources/index.js';
import { tickKey } from '../../poller/sources/schedule.js';
import { FakeInvoker, ok } from '../support/poller/fake-invoker.js';
import { makeKit, mapping, type Kit } from '../support/poller/kit.js';
import { until } from '../support/time.js';
import { NatsServer } from './support/nats.js';

let server: NatsServer;
let kit: Kit;

beforeAll(async () => {
  server = await NatsServer.start();
  kit = await makeKit(server);
});

afterAll(async () => {
  await kit?.close();
  await server?.cleanup();
});

const refused = (status: 401 | 403): InvokeResult => ({
  kind: 'error',
  status,
  code: 'AccessDeniedException',
  message: `${status} AccessDeniedException: the poller may not invoke`,
  retryable: true,
  platform: 'auth',
});

/** A schedule whose first tick (a minute after its creation, 1 s ago) is due as soon as the source starts. */
function minutely() {
  const createdAt = new Date(Date.now() - 61_000);
  const m = mapping(
    { function: 'nightly', source: { schedule: { expression: 'rate(1 minute)' } } },
    { creationTimestamp: createdAt },
  );
  return { m, firstTick: tickKey(m.ref.uid, m.ref.createdAtMs + 60_000) };
}

interface Claim {
  state: string;
  owner: string;
  result?: string;
}

async function doneClaim(key: string): Promise<Claim> {
  let claim: Claim | undefined;
  await until(async () => {
    claim = (await kit.state.ticks.get(key))?.json<Claim>();
    return claim?.state === 'done';
  }, `tick ${key} marked done`);
  return claim as Claim;
}

describe('schedule ticks and platform errors', () => {
  it('a tick refused 403 eight times, then 502 twice, keeps its Idempotency-Key and is delivered once the gateway accepts', async () => {
    const { m, firstTick } = minutely();
    let n = 0;
    const invoker = new FakeInvoker(() => {
      n++;
      if (n <= 8) return refused(403);
      if (n <= 10) return { kind: 'error', status: 502, message: '502 bad gateway', retryable: true };
      return ok({ ran: n });
    });
    const source = SOURCES.schedule.create(m, kit.deps(invoker, 'p1'));
    await source.start();
    try {
      const claim = await doneClaim(firstTick);
      expect(claim.result).toBe('OK');
      const calls = invoker.calls.filter((c) => c.req.idempotencyKey === firstTick);
      expect(calls).toHaveLength(11);
      // The same EventBridge event (id) every time.
      expect(new Set(calls.map((c) => (c.event as { id: string }).id)).size).toBe(1);
    } finally {
      await source.close();
    }
  });

  it('a tick still refused when it is older than the maximum event age is given up, said so, and marked done', async () => {
    const { m, firstTick } = minutely();
    const invoker = new FakeInvoker(() => refused(401));
    const reports: string[] = [];
    const deps = {
      ...kit.deps(invoker, 'p1', { scheduleMaxEventAgeMs: 2500 }),
      report: (r: string) => void reports.push(r),
    };
    const source = SOURCES.schedule.create(m, deps);
    await source.start();
    try {
      const claim = await doneClaim(firstTick);
      expect(claim.result).toMatch(
        /^error: 401 AccessDeniedException.*\(tick given up after \d+ attempts: older than 2.5 s\)$/,
      );
      // More than the old 5 attempts: retried for its whole age (backoff 50 → 200 ms).
      expect(invoker.calls.filter((c) => c.req.idempotencyKey === firstTick).length).toBeGreaterThan(5);
      expect(reports.at(-1)).toBe(claim.result);
    } finally {
      await source.close();
    }
  });

  it('a source closed while its tick is still refused leaves the claim for the next owner (not marked done)', async () => {
    const { m, firstTick } = minutely();
    const invoker = new FakeInvoker(() => refused(403));
    const source = SOURCES.schedule.create(m, kit.deps(invoker, 'p1'));
    await source.start();
    await until(() => invoker.calls.length >= 3, 'three refused attempts');
    await source.close();
    const v = (await kit.state.ticks.get(firstTick))?.json<Claim>();
    expect(v).toMatchObject({ state: 'claimed', owner: 'p1' });
  });
});
