/**
 * The examples `make up` deploys, on the real cluster: test/examples.sh (what test/up.sh runs, so
 * make up's path is the one tested) deploys them into sluice-examples, and each one is shown to
 * work as its manifest and the printed guide say — hello answers a sync call (bearer token and
 * SigV4); an async order runs and its success record reaches the audit function while a failing
 * one lands on NATS orders.failed after its retry; resize:prod answers from versions 1 and 2 by
 * weight; order-worker processes a queued order, rejects a poison one until it reaches orders.dlq
 * and never sees a filtered message; the heartbeat schedule invokes hello with a Scheduled Event.
 * A second run of the script changes nothing. Examples make up deployed before are left in place;
 * ones this file deployed itself are removed at its end.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { loadExamples } from '../../api/examples.js';
import { deleteStreams, lastMessages } from '../examples-nats.js';
import {
  forwardGateway,
  lambdaClient,
  serviceAccountToken,
  SYSTEM_NS,
  type Forward,
} from './support/gateway.js';
import { dumpNamespace, forward, kubectl, script, waitFor } from './support/kube.js';
import { connectNats, tenantCreds } from './support/nats.js';

const NS = 'sluice-examples';
/** The files test/examples.sh applies, from deploy/examples/valid/. */
const EXAMPLES = ['hello', 'async-destinations', 'alias-weights', 'queue-mapping', 'schedule'];

/** A Lambda invocation record on a `nats:` destination (payloads read loosely). */
interface DestinationRecord {
  requestContext: { requestId: string; condition: string; approximateInvokeCount: number };
  requestPayload: any;
  responsePayload: any;
}

/** Runs test/examples.sh; its output is printed (and returned) whether it succeeds or not. */
async function runExamples(): Promise<{ out: string; ms: number }> {
  const t0 = Date.now();
  try {
    const out = await script('test/examples.sh', []);
    console.log(out);
    return { out, ms: Date.now() - t0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    console.log(`test/examples.sh failed:\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
    throw err;
  }
}

/** Every log line of a function's pods (all versions). */
async function logs(fn: string): Promise<string> {
  const r = await kubectl([
    '-n',
    NS,
    'logs',
    '-l',
    `sluice.dev/function=${fn}`,
    '--tail=-1',
    '--max-log-requests=20',
  ]);
  return r.stdout;
}

describe("make up's examples on the real cluster", () => {
  let started = 0;
  let firstRun = { out: '', ms: 0 };
  let gw: Forward;
  let natsFwd: Forward | undefined;
  let nc: NatsConnection | undefined;
  let jsm: JetStreamManager;
  let token = '';
  /** Whether make up's examples were there before this file ran (then they are left in place). */
  let hadExamples = true;
  // Unique per run: make up's streams and namespace outlive the test.
  const base = (Date.now() % 1e9) * 10;
  const dumpOnFailure = (): void => onTestFailed(() => dumpNamespace(NS));

  const invoke = async (
    fn: string,
    event: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; headers: Headers; body: any }> => {
    const res = await fetch(`${gw.base}/2015-03-31/functions/${NS}:function:${fn}/invocations`, {
      method: 'POST',
      body: JSON.stringify(event),
      headers: { authorization: `Bearer ${token}`, ...headers },
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  };

  /** The records a stream received after sequence `after`. */
  const recordsAfter = async (
    stream: string,
    after: number,
  ): Promise<{ seq: number; data: DestinationRecord }[]> => {
    const last = (await jsm.streams.info(stream)).state.last_seq;
    return (await lastMessages(jsm, stream, last - after)) as { seq: number; data: DestinationRecord }[];
  };
  const lastSeq = async (stream: string): Promise<number> => (await jsm.streams.info(stream)).state.last_seq;

  beforeAll(async () => {
    hadExamples = (await kubectl(['get', 'namespace', NS])).code === 0;
    started = Date.now();
    firstRun = await runExamples();
    gw = await forwardGateway();
    token = await serviceAccountToken(NS, 'default');
    natsFwd = await forward(`svc/${SYSTEM_NS}/sluice-nats:4222`);
    // The namespace's own account: its streams, and the records of its nats: destinations.
    nc = await connectNats(natsFwd, await tenantCreds(NS));
    jsm = await jetstreamManager(nc);
  });

  afterAll(async () => {
    // Examples this file deployed itself (not make up's) go, so their pods and schedules do not
    // weigh on the files after it.
    if (!hadExamples) {
      await kubectl(['delete', 'namespace', NS, '--wait=false', '--ignore-not-found']);
      await kubectl(['-n', SYSTEM_NS, 'delete', 'secret', 'sluice-examples-key', '--ignore-not-found']);
      if (jsm) await deleteStreams(jsm);
    }
    await nc?.close();
    await natsFwd?.stop();
    await gw?.stop();
  });

  it('deploys one example per feature, every object Ready, and prints them', async () => {
    dumpOnFailure();
    console.log(`test/examples.sh took ${firstRun.ms} ms`);
    for (const name of ['hello', 'orders', 'audit', 'resize', 'order-worker', 'resize-prod', 'heartbeat'])
      expect(firstRun.out).toContain(name);
    const r = await kubectl(['-n', NS, 'get', 'fn,fnv,alias,esm', '-o', 'json']);
    expect(r.code).toBe(0);
    const items = (JSON.parse(r.stdout) as { items: any[] }).items;
    const byKind = (kind: string): string[] =>
      items
        .filter((i) => i.kind === kind)
        .map((i) => i.metadata.name as string)
        .sort();
    // The guide's section 6 adds wordcount with the AWS CLI (test/guide-check.sh runs it): a newcomer
    // who followed the guide runs make test next to it.
    expect(byKind('Function').filter((n) => n !== 'wordcount')).toEqual([
      'audit',
      'hello',
      'order-worker',
      'orders',
      'resize',
    ]);
    expect(byKind('FunctionVersion')).toEqual(['resize-v1', 'resize-v2']);
    expect(byKind('Alias')).toEqual(['resize-prod']);
    expect(byKind('EventSourceMapping')).toEqual(['heartbeat', 'nightly-report', 'order-worker-queue']);
    for (const i of items) {
      const ready = (i.status?.conditions ?? []).find((c: any) => c.type === 'Ready');
      expect(ready?.status, `${i.kind}/${i.metadata.name} Ready`).toBe('True');
    }
    for (const s of ['ORDERS', 'ORDERS_FAILED', 'ORDERS_DLQ']) await jsm.streams.info(s);
  });

  it('a second run (make up again) changes nothing', async () => {
    dumpOnFailure();
    const second = await runExamples();
    console.log(`second run of test/examples.sh took ${second.ms} ms`);
    expect(second.out).not.toMatch(/ (created|configured|patched)$/m);
    const applied = loadExamples().valid.filter((e) =>
      EXAMPLES.some((name) => e.file.endsWith(`/${name}.yaml`)),
    );
    const objects = applied.reduce((n, e) => n + e.docs.length, 0);
    expect(second.out.match(/ unchanged$/gm)?.length).toBe(objects);
    const fnv = await kubectl(['-n', NS, 'get', 'fnv', '-o', 'name']);
    expect(fnv.stdout.trim().split('\n').sort()).toEqual([
      'functionversion.sluice.dev/resize-v1',
      'functionversion.sluice.dev/resize-v2',
    ]);
  });

  // The features are checked side by side: their cold starts overlap.
  it.concurrent(
    'hello answers a sync call with a bearer token and through the AWS SDK (SigV4)',
    async ({ expect, onTestFailed }) => {
      onTestFailed(() => dumpNamespace(NS));
      const r = await invoke('hello', { name: 'e2e' });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ message: 'hello e2e', requestId: r.headers.get('x-amzn-requestid') });

      // The access key the script created, as the guide's AWS CLI/SDK lines use it.
      const secret = await kubectl(['-n', SYSTEM_NS, 'get', 'secret', 'sluice-examples-key', '-o', 'json']);
      const data = (JSON.parse(secret.stdout) as { data: Record<string, string> }).data;
      const decode = (k: string): string => Buffer.from(data[k] ?? '', 'base64').toString();
      const lambda = lambdaClient(gw.base, {
        accessKeyId: decode('accessKeyId'),
        secretAccessKey: decode('secretAccessKey'),
      });
      const out = await lambda.send(
        new InvokeCommand({ FunctionName: `${NS}:function:hello`, Payload: JSON.stringify({ name: 'sdk' }) }),
      );
      expect(out.FunctionError).toBeUndefined();
      expect(JSON.parse(Buffer.from(out.Payload!).toString())).toMatchObject({ message: 'hello sdk' });
      expect(out.ExecutedVersion).toBe('$LATEST');
    },
  );

  it.concurrent(
    'orders runs asynchronously: a success reaches audit (onSuccess), a failure lands on orders.failed',
    async ({ expect, onTestFailed }) => {
      onTestFailed(() => dumpNamespace(NS));
      const okId = base + 1;
      const failId = base + 2;
      const from = await lastSeq('ORDERS_FAILED');
      const event = { 'x-amz-invocation-type': 'Event' };
      const ok = await invoke('orders', { id: okId }, event);
      const bad = await invoke('orders', { id: failId, fail: true }, event);
      expect([ok.status, bad.status]).toEqual([202, 202]);
      const okReq = ok.headers.get('x-amzn-requestid') ?? '';
      const badReq = bad.headers.get('x-amzn-requestid') ?? '';
      expect(okReq).not.toBe('');

      // audit logs the invocation record it was sent: the request id, Success and the result.
      const line = await waitFor(
        `audit to log the record of ${okReq}`,
        async () => (await logs('audit')).split('\n').find((l) => l.includes(okReq)),
        90_000,
        1000,
      );
      expect(line).toContain('"condition":"Success"');
      expect(line).toContain(`{"accepted":${okId}}`);

      // One retry 5 s later, then the record on orders.failed (stream ORDERS_FAILED).
      const failed = await waitFor(
        `the record of ${badReq} on orders.failed`,
        async () =>
          (await recordsAfter('ORDERS_FAILED', from)).find(
            (m) => m.data.requestContext?.requestId === badReq,
          ),
        90_000,
        1000,
      );
      expect(failed.data.requestContext).toMatchObject({
        condition: 'RetriesExhausted',
        approximateInvokeCount: 2,
      });
      expect(failed.data.requestPayload).toEqual({ id: failId, fail: true });
      expect(failed.data.responsePayload).toMatchObject({ errorMessage: `order ${failId} rejected` });
      const records = await recordsAfter('ORDERS_FAILED', from);
      expect(records.filter((m) => m.data.requestContext?.requestId === okReq)).toEqual([]);
      expect(await logs('audit')).not.toContain(badReq);
    },
  );

  it.concurrent(
    'resize:prod answers from versions 1 and 2, mostly 1 (90/10)',
    async ({ expect, onTestFailed }) => {
      onTestFailed(() => dumpNamespace(NS));
      const counts: Record<string, number> = {};
      // 100 calls: the chance that a 10% version never shows is 0.9^100 ≈ 3e-5.
      for (let round = 0; round < 10; round++) {
        await Promise.all(
          Array.from({ length: 10 }, async () => {
            const r = await invoke('resize:prod', {});
            expect(r.status).toBe(200);
            const version = r.headers.get('x-amz-executed-version') ?? '';
            expect(r.body).toEqual({ version });
            counts[version] = (counts[version] ?? 0) + 1;
          }),
        );
      }
      console.log(`resize:prod over 100 calls: ${JSON.stringify(counts)}`);
      expect(Object.keys(counts).sort()).toEqual(['1', '2']);
      expect(counts['2']).toBeLessThan(30); // 10% expected; 30 is 6.7 standard deviations away
    },
  );

  it.concurrent(
    'order-worker processes a queued order, sends a poison one to orders.dlq and never sees a filtered one',
    async ({ expect, onTestFailed }) => {
      onTestFailed(() => dumpNamespace(NS));
      const [refund, good, poison] = [base + 3, base + 4, base + 5];
      const from = await lastSeq('ORDERS_DLQ');
      const js = jetstream(nc!);
      const seqs: number[] = [];
      for (const body of [
        { type: 'refund', id: refund },
        { type: 'order', id: good },
        { type: 'order', id: poison, poison: true },
      ])
        seqs.push((await js.publish('orders.created', JSON.stringify(body))).seq);

      const dlq = await waitFor(
        `order ${poison} on orders.dlq`,
        async () =>
          (await recordsAfter('ORDERS_DLQ', from)).find(
            (m) => JSON.parse(m.data.requestPayload?.Records?.[0]?.body ?? '{}').id === poison,
          ),
        90_000,
        1000,
      );
      // maximumRetryAttempts: 2 → three attempts, each reported as a batch item failure.
      expect(dlq.data.requestContext).toMatchObject({
        condition: 'RetriesExhausted',
        approximateInvokeCount: 3,
      });
      expect(dlq.data.requestPayload.Records[0]).toMatchObject({
        eventSource: 'aws:sqs',
        eventSourceARN: expect.stringContaining(`:${NS}:ORDERS`),
      });
      const out = await waitFor(
        `order-worker to log order ${good}`,
        async () => {
          const l = await logs('order-worker');
          return l.includes(`order ${good}: processed`) ? l : undefined;
        },
        30_000,
        1000,
      );
      for (let attempt = 1; attempt <= 3; attempt++)
        expect(out).toContain(`order ${poison}: rejected (attempt ${attempt})`);
      expect(out).not.toContain(`order ${refund}:`); // filtered out: never delivered
      expect(out).not.toContain(`order ${good}: rejected`);
      // A work queue keeps a message until it is acked: all three are gone.
      await waitFor('the three messages to be acked', async () => {
        const left = await Promise.all(
          seqs.map((seq) => jsm.streams.getMessage('ORDERS', { seq }).catch(() => null)),
        );
        return left.every((m) => !m) ? true : undefined;
      });
      expect(
        (await recordsAfter('ORDERS_DLQ', from)).map((m) => m.data.requestPayload.Records[0].body),
      ).toEqual([JSON.stringify({ type: 'order', id: poison, poison: true })]);
    },
  );

  it.concurrent(
    'the heartbeat schedule invokes hello with a Scheduled Event every minute',
    async ({ expect, onTestFailed }) => {
      onTestFailed(() => dumpNamespace(NS));
      // Ticks are anchored at the mapping's creation, a minute apart: the next one is at most 60 s
      // after the script ran.
      const since = Math.floor(started / 1000) * 1000;
      const tick = await waitFor(
        'a heartbeat tick in the logs of hello',
        async () => {
          for (const l of (await logs('hello')).split('\n')) {
            const m = /\tINFO\tevent (\{.*\})$/.exec(l);
            const event = m?.[1] ? JSON.parse(m[1]) : undefined;
            if (
              event?.['detail-type'] === 'Scheduled Event' &&
              event.resources?.[0]?.endsWith(':rule/heartbeat') &&
              Date.parse(event.time) >= since
            )
              return event;
          }
          return undefined;
        },
        100_000,
        2000,
      );
      expect(tick).toMatchObject({ source: 'aws.events', account: NS });
      const esm = await kubectl(['-n', NS, 'get', 'esm', 'heartbeat', 'nightly-report', '-o', 'json']);
      for (const m of (JSON.parse(esm.stdout) as { items: any[] }).items) {
        expect(m.status).toMatchObject({ state: 'Enabled', owner: expect.stringMatching(/^sluice-poller-/) });
      }
      // The owner writes the tick's result into the status a moment later (a new owner after a
      // platform restart reports "No records processed" until its first tick).
      await waitFor(
        'heartbeat status lastProcessingResult OK',
        async () => {
          const r = await kubectl(['-n', NS, 'get', 'esm', 'heartbeat', '-o', 'json']);
          const m = JSON.parse(r.stdout) as { status?: { lastProcessingResult?: string } };
          return m.status?.lastProcessingResult === 'OK' ? true : undefined;
        },
        75_000,
        1000,
      );
    },
    150_000,
  );
});
