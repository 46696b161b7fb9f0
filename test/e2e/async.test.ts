/**
 * Asynchronous invocation on the real cluster (a reduced issue-6 run): events accepted by the
 * gateway (Invoke API `Event` and the plain-HTTP function-URL form) land in the chart's NATS
 * JetStream, run with retries, and every one is accounted for through the `nats:` onSuccess /
 * onFailure destinations, read from the chart's NATS through a forward; failed events without a
 * failure destination wait in the dead-letter stream and are redriven after the function is fixed.
 */
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { InvocationRecord } from '../../api/records.js';
import { RecordCollector } from '../integration/support/async-pipeline.js';
import { asyncSettled, caughtUp } from './support/settled.js';
import {
  fnManifest,
  forwardGateway,
  grant,
  serviceAccountToken,
  SYSTEM_NS,
  waitReady,
  type Forward,
} from './support/gateway.js';
import { apply, createNamespace, dumpNamespace, forward, kubectl, waitFor } from './support/kube.js';
import { connectNats, platformCreds, tenantCreds } from './support/nats.js';

// The function-URL form wraps the event in an API Gateway v2 event: its body is the JSON we sent.
const WORKER = `
exports.handler = async (event, context) => {
  const e = typeof event.body === 'string' ? JSON.parse(event.body) : event;
  if (e.fail) throw new Error('event ' + e.id + ' rejected');
  return { done: e.id, attempt: context.clientContext?.custom?.approximateInvokeCount ?? null };
};`;

const FLAKY = `
exports.handler = async (e) => {
  if (process.env.BROKEN === 'yes') throw new Error('broken on ' + e.id);
  return { fixed: e.id };
};`;

interface Sent {
  id: number;
  requestId: string;
  fail: boolean;
}

describe('async invocation on the real cluster', () => {
  let ns = '';
  let removeNs: () => Promise<void> = () => Promise.resolve();
  let gw: Forward;
  let natsFwd: Forward | undefined;
  let nc: NatsConnection | undefined;
  let collector: RecordCollector | undefined;
  let token = '';
  let ops = '';
  const tag = randomBytes(3).toString('hex');
  const stream = `E2E_ASYNC_${tag.toUpperCase()}`;
  const subject = (s: string): string => `e2e.${tag}.${s}`;
  const dumpOnFailure = (): void => onTestFailed(() => dumpNamespace(ns));

  const flaky = (broken: boolean) =>
    fnManifest(ns, 'flaky', {
      code: { inline: FLAKY },
      environment: { BROKEN: broken ? 'yes' : 'no' },
      scaling: { minReplicas: 1 },
      async: { maxRetryAttempts: 0, retryDelaySeconds: 1, onSuccess: `nats:${subject('flaky-ok')}` },
    });

  /** An `Event` call through the Invoke API; resolves to the request id of the 202. */
  const sendEvent = async (
    fn: string,
    event: unknown,
    headers: Record<string, string> = {},
  ): Promise<string> => {
    const res = await fetch(`${gw.base}/2015-03-31/functions/${ns}%3Afunction%3A${fn}/invocations`, {
      method: 'POST',
      body: JSON.stringify(event),
      headers: { authorization: `Bearer ${token}`, 'x-amz-invocation-type': 'Event', ...headers },
    });
    const text = await res.text();
    if (res.status !== 202) throw new Error(`Event call to ${fn} answered ${res.status}: ${text}`);
    return res.headers.get('x-amzn-requestid') ?? '';
  };

  /** The dead-letters API of flaky, as `ops` (RBAC update on functions) unless told otherwise. */
  const dlq = async (path = '', init: RequestInit = {}, bearer = ops): Promise<Response> =>
    fetch(`${gw.base}/sluice/v1/namespaces/${ns}/functions/flaky/dead-letters${path}`, {
      ...init,
      headers: { authorization: `Bearer ${bearer}` },
    });

  beforeAll(async () => {
    const created = await createNamespace('e2e-async');
    ns = created.name;
    removeNs = created.remove;
    gw = await forwardGateway();
    natsFwd = await forward(`svc/${SYSTEM_NS}/sluice-nats:4222`);
    // The namespace's own account: its streams, and the records of its nats: destinations.
    nc = await connectNats(natsFwd, await tenantCreds(ns));
    collector = await RecordCollector.start(nc, stream, [`e2e.${tag}.>`]);
    await Promise.all([
      apply(
        fnManifest(ns, 'worker', {
          code: { inline: WORKER },
          timeoutSeconds: 5,
          scaling: { minReplicas: 1, maxReplicas: 2, concurrencyPerPod: 4 },
          async: {
            maxRetryAttempts: 1,
            retryDelaySeconds: 1,
            onSuccess: `nats:${subject('ok')}`,
            onFailure: `nats:${subject('failed')}`,
          },
        }),
      ),
      apply(flaky(true)),
    ]);
    token = await serviceAccountToken(ns, 'default');
    ops = await serviceAccountToken(ns, 'ops');
    await grant(ns, 'ops', 'functions', ['get', 'update']);
    await waitReady(ns, 'worker');
    await waitReady(ns, 'flaky');
    // Each gateway replica creates the function's consumer once it has seen the Function.
    await waitFor('the async pipeline to take events for worker', async () =>
      sendEvent('worker', { id: -1, warmup: true }).catch(() => undefined),
    );
    await waitFor('the warm-up record', () =>
      Promise.resolve(
        collector?.of(subject('ok')).some((r) => (r.requestPayload as { id?: number }).id === -1)
          ? true
          : undefined,
      ),
    );
  });

  afterAll(async () => {
    if (ops) await dlq('', { method: 'DELETE' }).catch(() => undefined);
    collector?.stop();
    if (nc) {
      await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
      await nc.close();
    }
    await natsFwd?.stop();
    await gw?.stop();
    await removeNs();
  });

  it('210 events with a failing subset (maxRetryAttempts 1): each accounted for once, with the right condition and attempts', async () => {
    dumpOnFailure();
    const sent: Sent[] = [];
    // 200 through the Invoke API, 10 through the function-URL form; every fifth one fails.
    const ids = Array.from({ length: 210 }, (_, i) => i);
    for (let i = 0; i < ids.length; i += 20) {
      await Promise.all(
        ids.slice(i, i + 20).map(async (id) => {
          const event = { id, fail: id % 5 === 0 };
          const requestId =
            id < 200
              ? await sendEvent('worker', event)
              : await (async () => {
                  const res = await fetch(`${gw.base}/url/${ns}/worker/orders`, {
                    method: 'POST',
                    body: JSON.stringify(event),
                    headers: {
                      authorization: `Bearer ${token}`,
                      'content-type': 'application/json',
                      'x-amz-invocation-type': 'Event',
                    },
                  });
                  expect(res.status, await res.text()).toBe(202);
                  return res.headers.get('x-amzn-requestid') ?? '';
                })();
          expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
          sent.push({ id, requestId, fail: event.fail });
        }),
      );
    }
    // A client retry with the same Idempotency-Key: the same request id, processed once.
    const dup1 = await sendEvent(
      'worker',
      { id: 300, fail: false },
      { 'idempotency-key': `order-300-${tag}` },
    );
    const dup2 = await sendEvent(
      'worker',
      { id: 300, fail: false },
      { 'idempotency-key': `order-300-${tag}` },
    );
    expect(dup2).toBe(dup1);
    sent.push({ id: 300, requestId: dup1, fail: false });

    const wantOk = sent.filter((s) => !s.fail).length;
    const wantFailed = sent.filter((s) => s.fail).length;
    expect([wantOk, wantFailed]).toEqual([169, 42]);
    const idOf = (r: InvocationRecord): number => {
      const p = r.requestPayload as { id?: number; body?: string };
      return typeof p.body === 'string' ? (JSON.parse(p.body) as { id: number }).id : (p.id as number);
    };
    const ok = (): InvocationRecord[] => (collector?.of(subject('ok')) ?? []).filter((r) => idOf(r) >= 0);
    const failed = (): InvocationRecord[] => collector?.of(subject('failed')) ?? [];
    await waitFor(
      `${wantOk} success and ${wantFailed} failure records`,
      () => Promise.resolve(ok().length >= wantOk && failed().length >= wantFailed ? true : undefined),
      150_000,
      1000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; have ${ok().length} success and ${failed().length} failure records`);
    });
    // Nothing more can arrive: every event reached its final state and the collector has every record.
    // SLUICE_ASYNC is the platform's (its administrator's creds); the records are in the namespace's account.
    const platform = await connectNats(natsFwd!, await platformCreds());
    try {
      await asyncSettled(await jetstreamManager(platform), ns, 'worker');
    } finally {
      await platform.close();
    }
    await caughtUp(await jetstreamManager(nc!), collector!, stream);

    const byId = new Map(sent.map((s) => [s.id, s]));
    const seen = new Map<number, number>();
    for (const r of [...ok(), ...failed()]) seen.set(idOf(r), (seen.get(idOf(r)) ?? 0) + 1);
    expect(
      [...seen.entries()].filter(([, n]) => n !== 1),
      'events recorded more than once',
    ).toEqual([]);
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual([...byId.keys()].sort((a, b) => a - b));

    for (const r of ok()) {
      const s = byId.get(idOf(r))!;
      expect(s.fail).toBe(false);
      expect(r.requestContext).toMatchObject({
        requestId: s.requestId,
        condition: 'Success',
        approximateInvokeCount: 1,
        functionArn: expect.stringMatching(new RegExp(`:${ns}:function:worker:\\$LATEST$`)),
      });
      expect(r.responseContext).toEqual({ statusCode: 200, executedVersion: '$LATEST' });
      expect(r.responsePayload).toEqual({ done: s.id, attempt: 1 });
    }
    for (const r of failed()) {
      const s = byId.get(idOf(r))!;
      expect(s.fail).toBe(true);
      expect(r.requestContext).toMatchObject({
        requestId: s.requestId,
        condition: 'RetriesExhausted',
        approximateInvokeCount: 2,
      });
      expect(r.responseContext).toMatchObject({ functionError: 'Unhandled', executedVersion: '$LATEST' });
      expect(r.responsePayload).toMatchObject({ errorType: 'Error', errorMessage: `event ${s.id} rejected` });
    }
  });

  it('failed events without a failure destination wait in the dead-letter stream and are redriven once fixed', async () => {
    dumpOnFailure();
    const requestIds = new Map<number, string>();
    for (const id of [1, 2, 3, 4, 5]) requestIds.set(id, await sendEvent('flaky', { id }));
    const page = await waitFor(
      '5 dead letters of flaky',
      async () => {
        const res = await dlq();
        if (res.status !== 200) throw new Error(`dead letters answered ${res.status}: ${await res.text()}`);
        const body = (await res.json()) as {
          items: { seq: number; requestId: string; reason: string }[];
          total: number;
        };
        return body.total >= 5 ? body : undefined;
      },
      120_000,
      1000,
    );
    expect(page.total).toBe(5);
    expect(page.items.map((i) => i.reason)).toEqual(Array(5).fill('RetriesExhausted'));
    expect(new Set(page.items.map((i) => i.requestId))).toEqual(new Set(requestIds.values()));
    const one = (await (await dlq(`/${page.items[0]!.seq}`)).json()) as { record: InvocationRecord };
    expect(one.record.requestContext).toMatchObject({
      condition: 'RetriesExhausted',
      approximateInvokeCount: 1,
    });
    expect(String((one.record.responsePayload as { errorMessage?: string }).errorMessage)).toMatch(
      /^broken on \d$/,
    );

    // Managing dead letters needs RBAC update on the function: the namespace's default account has none.
    expect((await dlq('/redrive', { method: 'POST' }, token)).status).toBe(403);

    // Fix the function and wait until only fixed pods serve it.
    await apply(flaky(false));
    await waitReady(ns, 'flaky');
    const rollout = await kubectl(['-n', ns, 'rollout', 'status', 'deploy/flaky-latest', '--timeout=150s']);
    expect(rollout.code, rollout.stderr).toBe(0);
    await waitFor('flaky to answer from a fixed pod', async () => {
      const res = await fetch(`${gw.base}/2015-03-31/functions/${ns}%3Afunction%3Aflaky/invocations`, {
        method: 'POST',
        body: '{"id":0}',
        headers: { authorization: `Bearer ${token}` },
      });
      return res.headers.get('x-amz-function-error') === null && res.status === 200 ? true : undefined;
    });

    const redrive = await dlq('/redrive', { method: 'POST' });
    expect(redrive.status).toBe(200);
    const result = (await redrive.json()) as { redriven: { requestId: string }[]; failed: unknown[] };
    expect(result.failed).toEqual([]);
    expect(new Set(result.redriven.map((r) => r.requestId))).toEqual(new Set(requestIds.values()));
    const fixed = await waitFor(
      '5 success records of the redriven events',
      () => {
        const recs = collector?.of(subject('flaky-ok')) ?? [];
        return Promise.resolve(recs.length >= 5 ? recs : undefined);
      },
      120_000,
      1000,
    );
    expect(fixed).toHaveLength(5);
    for (const r of fixed) {
      const id = (r.requestPayload as { id: number }).id;
      expect(r.requestContext).toMatchObject({ requestId: requestIds.get(id), condition: 'Success' });
      expect(r.responsePayload).toEqual({ fixed: id });
    }
    const after = (await (await dlq()).json()) as { total: number };
    expect(after.total).toBe(0);
  });
});
