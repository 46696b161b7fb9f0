/**
 * Reserved concurrency is one number across gateway replicas (issue 15, "What must show"): with
 * three gateway replicas and `concurrency.reserved: 4`, concurrent sync calls spread over all
 * three never run more than 4 at once — measured in the handler, which reports when it started
 * and ended — the others are answered 429 ReservedFunctionConcurrentInvocationLimitExceeded, and
 * no call is throttled while fewer than 4 run. Each gateway pod is addressed directly (a forward to
 * its pod IP), so every replica is known to have taken calls; the proof must not be the per-replica
 * fallback share (`sluice_concurrency_fallback_total` unchanged on every replica).
 *
 * The file scales the gateway Deployment to 3 replicas and back to what it was.
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { AppsV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import {
  SYSTEM_NS,
  createAccessKey,
  fnManifest,
  gatewayPods,
  lambdaClient,
  sample,
  waitReady,
  type AccessKey,
  type Forward,
} from './support/gateway.js';
import { apply, cluster, createNamespace, dumpNamespace, forward, kubectl, waitFor } from './support/kube.js';

const FN = 'held';
const RESERVED = 4;
const REPLICAS = 3;

// Each call reports the handler's own clock (the pods share the node's clock with this process).
const HANDLER = `
const os = require('node:os');
exports.handler = async (event) => {
  const start = Date.now();
  if (event.holdMs) await new Promise((r) => setTimeout(r, event.holdMs));
  return { start, end: Date.now(), host: os.hostname(), tag: event.tag ?? null };
};`;

interface Ran {
  start: number;
  end: number;
  host: string;
  tag: string | null;
}

interface Answer {
  gateway: number;
  sent: number;
  answered: number;
  ran?: Ran;
  status?: number;
  name?: string;
  reason?: string;
}

/** How many handler runs include the instant `t`. */
const runningAt = (runs: Ran[], t: number): number => runs.filter((r) => r.start <= t && t < r.end).length;

/** The most handler runs that overlapped at any instant (a sweep over start/end events). */
function maxOverlap(runs: Ran[]): number {
  const events: [number, number][] = runs.flatMap((r): [number, number][] => [
    [r.start, 1],
    [r.end, -1],
  ]);
  // Ends before starts at the same millisecond: a run that ended is not overlapping the next.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let max = 0;
  for (const [, d] of events) max = Math.max(max, (now += d));
  return max;
}

describe(`reserved concurrency ${RESERVED} across ${REPLICAS} gateway replicas`, () => {
  let ns = '';
  let removeNs: () => Promise<void> = () => Promise.resolve();
  let key: AccessKey | undefined;
  let originalReplicas = 2;
  const forwards: Forward[] = [];
  const metricForwards: Forward[] = [];
  const clients: LambdaClient[] = [];
  const dumpOnFailure = (): void => onTestFailed(() => dumpNamespace(ns));
  const apps = (): AppsV1Api => cluster().kc.makeApiClient(AppsV1Api);

  const call = async (gateway: number, payload: Record<string, unknown>): Promise<Answer> => {
    const sent = Date.now();
    try {
      const client = clients[gateway];
      if (!client) throw new Error(`no gateway ${gateway}`);
      const r = await client.send(
        new InvokeCommand({
          FunctionName: `${ns}:function:${FN}`,
          Payload: new TextEncoder().encode(JSON.stringify(payload)),
        }),
      );
      const body = JSON.parse(new TextDecoder().decode(r.Payload)) as Ran;
      if (r.FunctionError) throw new Error(`function error: ${JSON.stringify(body)}`);
      return { gateway, sent, answered: Date.now(), ran: body, status: r.StatusCode };
    } catch (err) {
      const e = err as Error & { $metadata?: { httpStatusCode?: number }; Reason?: string };
      if (e.$metadata?.httpStatusCode === undefined) throw err;
      return {
        gateway,
        sent,
        answered: Date.now(),
        status: e.$metadata.httpStatusCode,
        name: e.name,
        reason: e.Reason,
      };
    }
  };

  /** Each replica's sluice_concurrency_fallback_total and its calls of this function in flight. */
  const gatewayCounters = async (): Promise<{ fallback: number; inflight: number }[]> =>
    Promise.all(
      metricForwards.map(async (f) => {
        const text = await (await fetch(`${f.base}/metrics`)).text();
        return {
          fallback: fallbackPlain(text),
          inflight: sample(text, 'sluice_concurrent_executions', { namespace: ns, function: FN }),
        };
      }),
    );

  beforeAll(async () => {
    const created = await createNamespace('e2e-rc');
    ns = created.name;
    removeNs = created.remove;
    key = await createAccessKey(`serviceaccount:${ns}:ci`);
    await apply(
      fnManifest(ns, FN, {
        code: { inline: HANDLER },
        timeoutSeconds: 60,
        concurrency: { reserved: RESERVED },
        // One warm pod takes all four, so a cold start never holds an admitted call.
        scaling: { minReplicas: 1, concurrencyPerPod: RESERVED },
      }),
    );

    const deploy = await apps().readNamespacedDeployment({ namespace: SYSTEM_NS, name: 'sluice-gateway' });
    originalReplicas = deploy.spec?.replicas ?? 2;
    const scaled = await kubectl([
      '-n',
      SYSTEM_NS,
      'scale',
      'deployment/sluice-gateway',
      `--replicas=${REPLICAS}`,
    ]);
    expect(scaled.code, scaled.stderr).toBe(0);
    await waitFor(`${REPLICAS} ready gateway replicas`, async () => {
      const d = await apps().readNamespacedDeployment({ namespace: SYSTEM_NS, name: 'sluice-gateway' });
      return d.status?.readyReplicas === REPLICAS && d.status?.replicas === REPLICAS ? d : undefined;
    });
    await waitReady(ns, FN);

    const pods = await waitFor(`${REPLICAS} gateway pods with an IP`, async () => {
      const p = await gatewayPods();
      return p.length === REPLICAS ? p : undefined;
    });
    for (const p of pods) {
      forwards.push(await forward(`${p.ip}:8080`));
      metricForwards.push(await forward(`${p.ip}:9090`));
    }
    for (const f of forwards) clients.push(lambdaClient(f.base, key));

    // A replica is ready only once it reached NATS (gateway/startup-gate.ts), so the first call
    // through each — the new one included — is decided by the shared counter, not by a share.
    for (let g = 0; g < REPLICAS; g++) {
      const before = (await gatewayCounters())[g]?.fallback;
      const a = await call(g, { tag: 'warm' });
      expect(a.status, `first call through gateway ${g}`).toBe(200);
      expect((await gatewayCounters())[g]?.fallback, `fallbacks of gateway ${g}`).toBe(before);
    }
  });

  afterAll(async () => {
    for (const f of [...forwards, ...metricForwards]) await f.stop();
    await kubectl(['-n', SYSTEM_NS, 'scale', 'deployment/sluice-gateway', `--replicas=${originalReplicas}`]);
    await waitFor(`the gateway back at ${originalReplicas} ready replicas`, async () => {
      const d = await apps().readNamespacedDeployment({ namespace: SYSTEM_NS, name: 'sluice-gateway' });
      return d.status?.readyReplicas === originalReplicas && d.status?.replicas === originalReplicas
        ? d
        : undefined;
    });
    await key?.remove();
    await removeNs();
  });

  it(`40 concurrent calls over ${REPLICAS} gateways: at most ${RESERVED} run in the handler, the other 36 get 429 while they run`, async () => {
    dumpOnFailure();
    const before = await gatewayCounters();
    const holdMs = 8000;
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => call(i % REPLICAS, { holdMs, tag: `burst-${i}` })),
    );
    const after = await gatewayCounters();
    const ran = answers.filter((a) => a.ran !== undefined);
    const runs = ran.map((a) => a.ran as Ran);
    const throttled = answers.filter((a) => a.ran === undefined);
    const firstEnd = Math.min(...runs.map((r) => r.end));
    console.log(
      JSON.stringify({
        reservedConcurrency: {
          replicas: REPLICAS,
          reserved: RESERVED,
          calls: answers.length,
          admitted: ran.length,
          throttled: throttled.length,
          maxRunningInHandler: maxOverlap(runs),
          throttledPerGateway: [0, 1, 2].map((g) => throttled.filter((a) => a.gateway === g).length),
          admittedPerGateway: [0, 1, 2].map((g) => ran.filter((a) => a.gateway === g).length),
          slowest429Ms: Math.max(...throttled.map((a) => a.answered - a.sent)),
          fallbacks: after.map((c, i) => c.fallback - (before[i]?.fallback ?? 0)),
        },
      }),
    );

    expect(maxOverlap(runs)).toBe(RESERVED);
    expect(ran).toHaveLength(RESERVED);
    expect(throttled).toHaveLength(40 - RESERVED);
    for (const a of throttled) {
      expect(a).toMatchObject({
        status: 429,
        name: 'TooManyRequestsException',
        reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
      });
      // Answered before any admitted call finished: every throttle came while all 4 held their slots.
      expect(a.answered).toBeLessThan(firstEnd);
    }
    // Every replica took calls and throttled some: the limit held across all three, not per replica.
    for (let g = 0; g < REPLICAS; g++)
      expect(throttled.filter((a) => a.gateway === g).length).toBeGreaterThan(0);
    // Decided by the shared counter, never by the per-replica fallback share.
    expect(after.map((c) => c.fallback)).toEqual(before.map((c) => c.fallback));
  });

  it(`calls admitted one by one while fewer than ${RESERVED} run — three through one replica (its share would be 1 or 2) — the next is throttled while ${RESERVED} run, and all are admitted again after`, async () => {
    dumpOnFailure();
    const before = await gatewayCounters();
    const holdMs = 15_000;
    // Calls 1-3 through gateway 0, call 4 through gateway 1: each sent once the previous one runs.
    const route = [0, 0, 0, 1];
    const held: Promise<Answer>[] = [];
    const sentAt: number[] = [];
    for (const [k, g] of route.entries()) {
      sentAt.push(Date.now());
      held.push(call(g, { holdMs, tag: `step-${k + 1}` }));
      await waitFor(
        `${k + 1} calls of ${FN} in flight`,
        async () => {
          const inflight = (await gatewayCounters()).reduce((n, c) => n + c.inflight, 0);
          return inflight === k + 1 ? inflight : undefined;
        },
        30_000,
        100,
      );
    }
    // The fifth, through gateway 2 (which holds none of them), while four run.
    const fifth = await call(2, { tag: 'step-5' });
    const steps = await Promise.all(held);
    const runs = steps.map((a) => a.ran).filter((r): r is Ran => r !== undefined);
    console.log(
      JSON.stringify({
        oneByOne: {
          steps: steps.map((a, k) => ({
            gateway: a.gateway,
            status: a.status,
            runningWhenSent: runningAt(runs, sentAt[k] ?? 0),
          })),
          fifth: {
            status: fifth.status,
            reason: fifth.reason,
            runningWhenAnswered: runningAt(runs, fifth.answered),
          },
        },
      }),
    );

    // Each of the four admitted while fewer than 4 ran (measured in the handler at its send time).
    for (const [k, a] of steps.entries()) {
      expect(a.status, `step ${k + 1}`).toBe(200);
      expect(runningAt(runs, sentAt[k] ?? 0), `handlers running when step ${k + 1} was sent`).toBe(k);
    }
    expect(fifth).toMatchObject({
      status: 429,
      name: 'TooManyRequestsException',
      reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
    });
    expect(runningAt(runs, fifth.answered)).toBe(RESERVED);

    // Once they finished, every replica admits again.
    for (let g = 0; g < REPLICAS; g++) expect((await call(g, { tag: `after-${g}` })).status).toBe(200);
    const after = await gatewayCounters();
    expect(after.map((c) => c.fallback)).toEqual(before.map((c) => c.fallback));
  });
});

/** `sluice_concurrency_fallback_total` has no labels: its sample line is `name value`. */
function fallbackPlain(text: string): number {
  const line = text.split('\n').find((l) => l.startsWith('sluice_concurrency_fallback_total '));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}
