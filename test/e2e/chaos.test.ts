/**
 * Chaos on the real cluster (issue 15, "Durable means on disk"): `make chaos` (SLUICE_CHAOS=1;
 * not part of `make test-e2e`). One tenant namespace runs four workloads side by side while pods
 * of the platform and of the functions are deleted every 20–30 s, and a function's processes are
 * SIGKILLed mid-call on the node:
 *
 *   sync    RequestResponse calls at a steady rate; errors counted by kind (status + error type).
 *   async   Event calls, each with a unique id (and an Idempotency-Key, so a client retry of an
 *           unanswered call is the same event); final states through the worker's nats:
 *           onSuccess / onFailure destinations and the dead-letter API.
 *   queue   a JetStream work queue → natsQueue mapping (SQS records), each record with an id.
 *   stream  a JetStream stream → natsStream mapping, five keys with per-key sequences.
 *
 * Every execution is recorded by the handler itself, before it does its work, in a ledger: a
 * small HTTP server in a pod of the namespace (not a chaos target) that the private functions may
 * reach (network.peers). What was accepted (a 202, a PubAck) is compared with the ledger and the
 * final states after a drain: nothing accepted may be lost, each stream key's order must hold, no
 * async event may run after it reached its final state, and sync errors must be of the kinds a
 * client retries (429, 5xx, a dropped connection). Duplicates are counted and reported, not
 * failed: delivery is at least once. bench-results/chaos.json gets the numbers, whatever the
 * outcome, before anything is asserted.
 *
 *   SLUICE_CHAOS_SECONDS (300)        how long faults are injected while the workloads run
 *   SLUICE_CHAOS_DRAIN_SECONDS (300)  how long to wait afterwards for everything to settle
 *   SLUICE_CHAOS_RATE (5)             calls / events / records per second, per workload
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jetstream, jetstreamManager, RetentionPolicy, type JetStreamClient } from '@nats-io/jetstream';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { consumerName } from '../../api/nats-naming.js';
import { ROOT } from '../../api/paths.js';
import type { InvocationRecord } from '../../api/records.js';
import { RecordCollector } from '../integration/support/async-pipeline.js';
import {
  accountAsync,
  accountQueue,
  accountStream,
  type FinalState,
  type LedgerEntry,
  type StreamRecord,
} from './support/chaos-ledger.js';
import { imageRef } from './support/env.js';
import {
  API,
  fnManifest,
  forwardGateway,
  grant,
  serviceAccountToken,
  SYSTEM_NS,
  waitReady,
  type Forward,
} from './support/gateway.js';
import { apply, cluster, createNamespace, dumpNamespace, forward, kubectl, waitFor } from './support/kube.js';
import { platformCreds, tenantCreds } from './support/nats.js';

const run = promisify(execFile);

const num = (name: string, dflt: number): number => {
  const v = Number(process.env[name] ?? dflt);
  if (!(v > 0)) throw new Error(`${name} must be a positive number, got "${process.env[name]}"`);
  return v;
};
const SECONDS = num('SLUICE_CHAOS_SECONDS', 300);
const DRAIN_SECONDS = num('SLUICE_CHAOS_DRAIN_SECONDS', 300);
const RATE = num('SLUICE_CHAOS_RATE', 5);
const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4'];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// The ledger: appends each POSTed list of entries, stamped with the time it arrived; pages them out.
const LEDGER = `
const http = require('node:http');
const entries = [];
http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/record') {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      try {
        const t = Date.now();
        for (const e of JSON.parse(body)) entries.push({ ...e, t });
        res.writeHead(204).end();
      } catch (err) {
        res.writeHead(400).end(String(err));
      }
    });
    return;
  }
  if (req.method === 'GET' && req.url.startsWith('/entries')) {
    const from = Number(new URL(req.url, 'http://ledger').searchParams.get('from') || 0);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ total: entries.length, entries: entries.slice(from, from + 5000) }));
    return;
  }
  res.writeHead(404).end();
}).listen(8080, () => console.log('ledger on :8080'));
process.on('SIGTERM', () => process.exit(0));
`;

// One handler for every workload, told apart by the event's shape. Each execution draws an id,
// records itself in the ledger before its work (retrying the POST a little; a ledger it cannot
// reach fails the execution), and marks itself in-flight in /tmp while it runs (the chaos loop
// looks there to kill a process mid-call).
const HANDLER = `
const { randomUUID } = require('node:crypto');
const fs = require('node:fs');
const pause = (ms) => new Promise((r) => setTimeout(r, ms));
async function record(entries) {
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(process.env.LEDGER_URL, {
        method: 'POST', body: JSON.stringify(entries), headers: { 'content-type': 'application/json' },
        signal: AbortSignal.timeout(2000),
      });
      if (r.ok) return;
    } catch {}
    if (i >= 10) throw new Error('the ledger does not answer');
    await pause(200);
  }
}
function entriesOf(event, x, context) {
  const first = event.Records && event.Records[0];
  if (first && first.eventSource === 'aws:sqs')
    return { ms: 100, list: event.Records.map((r) => ({ w: 'queue', x, id: JSON.parse(r.body).id, rc: Number(r.attributes.ApproximateReceiveCount) })) };
  if (first && first.eventSource === 'sluice:nats')
    return { ms: 100, list: event.Records.map((r) => {
      const d = JSON.parse(Buffer.from(r.nats.data, 'base64').toString());
      return { w: 'stream', x, key: d.key, seq: d.seq, sseq: Number(r.nats.sequenceNumber), rc: r.nats.deliveryCount };
    }) };
  const attempt = (context.clientContext && context.clientContext.custom && context.clientContext.custom.approximateInvokeCount) || null;
  return { ms: event.sleep || 0, list: [{ w: 'async', x, id: event.id, attempt }] };
}
exports.handler = async (event, context) => {
  if (event.sync) return { pong: event.n };
  const x = randomUUID();
  const mark = '/tmp/inflight-' + process.pid + '-' + x;
  fs.writeFileSync(mark, '');
  try {
    const { ms, list } = entriesOf(event, x, context);
    await record(list);
    await pause(ms);
    return event.Records ? { batchItemFailures: [] } : { done: event.id };
  } finally {
    fs.rmSync(mark, { force: true });
  }
};`;

const restricted = {
  runAsNonRoot: true,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** Increments a counter in a plain object. */
const bump = (m: Record<string, number>, k: string, by = 1): void => void (m[k] = (m[k] ?? 0) + by);

/** Sync errors a client retries (the AWS SDK: throttling, 5xx, transient network errors). */
const RETRYABLE_SYNC = /^((429|5\d\d)( |$)|network:)/;

interface Fault {
  at: number;
  kind: string;
  target: string;
  detail?: string;
}

describe('chaos: platform and function pods die while sync, async, queue and stream work runs', () => {
  let ns = '';
  let removeNs: () => Promise<void> = () => Promise.resolve();
  let gw: Forward | undefined;
  let natsFwd: Forward | undefined;
  let ledgerFwd: Forward | undefined;
  let nc: NatsConnection | undefined;
  let js: JetStreamClient | undefined;
  let collector: RecordCollector | undefined;
  let token = '';
  let ops = '';
  const tag = randomBytes(3).toString('hex');
  const T = tag.toUpperCase();
  const outStream = `CHAOS_OUT_${T}`;
  const queueStream = `CHAOS_Q_${T}`;
  const streamStream = `CHAOS_S_${T}`;
  const queueSubject = `chaosq.${tag}`;
  const streamSubject = (key: string): string => `chaoss.${tag}.${key}`;
  const subject = (s: string): string => `chaos.${tag}.${s}`;

  const connectTenant = async (creds: string): Promise<NatsConnection> =>
    connect({
      servers: natsFwd!.base.replace(/^http:\/\//, ''),
      ignoreClusterUpdates: true,
      authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    });

  /** Every ledger entry so far, in arrival order. */
  const readLedger = async (): Promise<LedgerEntry[]> => {
    const out: LedgerEntry[] = [];
    for (;;) {
      const res = await fetch(`${ledgerFwd!.base}/entries?from=${out.length}`);
      const page = (await res.json()) as { total: number; entries: LedgerEntry[] };
      out.push(...page.entries);
      if (page.entries.length === 0 || out.length >= page.total) return out;
    }
  };

  const fn = (name: string, ledgerIp: string, extra: Parameters<typeof fnManifest>[2] = {}) =>
    fnManifest(ns, name, {
      code: { inline: HANDLER },
      timeoutSeconds: 10,
      environment: { LEDGER_URL: `http://${ledgerIp}:8080/record` },
      network: { mode: 'private', peers: [{ podSelector: { app: 'chaos-ledger' }, ports: [8080] }] },
      scaling: { minReplicas: 1, maxReplicas: 2, concurrencyPerPod: 4, scaleToZeroAfterSeconds: 3600 },
      ...extra,
    });

  /** An Event call; the request id of its 202, or the error kind. */
  const sendEvent = async (id: number, sleepMs: number): Promise<{ requestId?: string; error?: string }> => {
    try {
      const res = await fetch(`${gw!.base}/2015-03-31/functions/${ns}%3Afunction%3Aworker/invocations`, {
        method: 'POST',
        body: JSON.stringify({ id, sleep: sleepMs }),
        headers: {
          authorization: `Bearer ${token}`,
          'x-amz-invocation-type': 'Event',
          'idempotency-key': `chaos-${tag}-${id}`,
        },
        signal: AbortSignal.timeout(15_000),
      });
      await res.text();
      if (res.status === 202) return { requestId: res.headers.get('x-amzn-requestid') ?? '' };
      return { error: `${res.status} ${res.headers.get('x-amzn-errortype') ?? ''}`.trim() };
    } catch (err) {
      return { error: networkKind(err) };
    }
  };

  beforeAll(async () => {
    const created = await createNamespace('chaos');
    ns = created.name;
    removeNs = created.remove;
    gw = await forwardGateway();
    natsFwd = await forward(`svc/${SYSTEM_NS}/sluice-nats:4222`);
    nc = await connectTenant(await tenantCreds(ns));
    js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const window = 15 * 60 * 1e9; // a publish retried across a NATS restart is still de-duplicated
    await jsm.streams.add({
      name: queueStream,
      subjects: [queueSubject],
      retention: RetentionPolicy.Workqueue,
      duplicate_window: window,
    });
    await jsm.streams.add({ name: streamStream, subjects: [`chaoss.${tag}.>`], duplicate_window: window });
    collector = await RecordCollector.start(nc, outStream, [`chaos.${tag}.>`]);

    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'ledger', namespace: ns, labels: { app: 'chaos-ledger' } },
      spec: {
        containers: [
          {
            name: 'ledger',
            image: imageRef(cluster().env, 'testbox'),
            imagePullPolicy: 'Never',
            args: ['-e', LEDGER],
            ports: [{ containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/entries', port: 8080 }, periodSeconds: 1 },
            securityContext: restricted,
          },
        ],
      },
    });
    const ledgerIp = await waitFor('the ledger pod to be Ready', async () => {
      const p = await cluster().core.readNamespacedPod({ namespace: ns, name: 'ledger' });
      const ready = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      return ready ? p.status?.podIP : undefined;
    });
    ledgerFwd = await forward(`${ledgerIp}:8080`);

    await Promise.all([
      apply(fn('sync', ledgerIp)),
      apply(
        fn('worker', ledgerIp, {
          async: {
            maxRetryAttempts: 2,
            retryDelaySeconds: 1,
            onSuccess: `nats:${subject('ok')}`,
            onFailure: `nats:${subject('failed')}`,
          },
        }),
      ),
      apply(fn('queue', ledgerIp)),
      apply(fn('stream', ledgerIp)),
    ]);
    token = await serviceAccountToken(ns, 'default');
    ops = await serviceAccountToken(ns, 'ops');
    await grant(ns, 'ops', 'functions', ['get', 'update']);
    for (const name of ['sync', 'worker', 'queue', 'stream']) await waitReady(ns, name);
    await apply({
      apiVersion: API,
      kind: 'EventSourceMapping',
      metadata: { name: 'queue', namespace: ns },
      spec: {
        function: 'queue',
        source: { natsQueue: { stream: queueStream } },
        recordFormat: 'sqs',
        batchSize: 10,
        maximumRetryAttempts: 5,
        onFailure: `nats:${subject('qfailed')}`,
      },
    });
    await apply({
      apiVersion: API,
      kind: 'EventSourceMapping',
      metadata: { name: 'stream', namespace: ns },
      spec: {
        function: 'stream',
        source: { natsStream: { stream: streamStream } },
        startingPosition: 'TRIM_HORIZON',
        batchSize: 10,
        maximumRetryAttempts: 10,
        onFailure: `nats:${subject('sfailed')}`,
      },
    });
    // Warm-up: one of each reaches the ledger (ids -1 and key "warm" are left out of the accounting).
    await js.publish(queueSubject, JSON.stringify({ id: -1 }));
    await js.publish(streamSubject('warm'), JSON.stringify({ key: 'warm', seq: 0 }));
    await waitFor('the async pipeline to take events for worker', async () => {
      const r = await sendEvent(-1, 0);
      return r.requestId !== undefined ? true : undefined;
    });
    await waitFor(
      'a warm-up execution of each workload in the ledger',
      async () => {
        const ws = new Set((await readLedger()).map((e) => e.w));
        return ws.has('async') && ws.has('queue') && ws.has('stream') ? true : undefined;
      },
      180_000,
      1000,
    );
  });

  afterAll(async () => {
    collector?.stop();
    if (ns) await kubectl(['-n', ns, 'delete', 'esm', '--all', '--wait=true', '--timeout=60s']);
    if (nc) {
      const jsm = await jetstreamManager(nc).catch(() => undefined);
      for (const s of [queueStream, streamStream, outStream])
        await jsm?.streams.delete(s).catch(() => undefined);
      await nc.close().catch(() => undefined);
    }
    await ledgerFwd?.stop();
    await natsFwd?.stop();
    await gw?.stop();
    await removeNs();
  });

  it(
    `loses nothing and keeps stream order through ${SECONDS} s of faults`,
    async () => {
      onTestFailed(() => dumpNamespace(ns));
      const started = Date.now();
      let running = true;
      const work: Promise<void>[] = [];

      // ---- sync: RATE calls a second, at most 64 in flight
      const sync = {
        calls: 0,
        ok: 0,
        skipped: 0,
        errors: {} as Record<string, number>,
        latencies: [] as number[],
      };
      let syncInFlight = 0;
      const syncCall = async (n: number): Promise<void> => {
        const t0 = Date.now();
        syncInFlight++;
        try {
          const res = await fetch(`${gw!.base}/2015-03-31/functions/${ns}%3Afunction%3Async/invocations`, {
            method: 'POST',
            body: JSON.stringify({ sync: true, n }),
            headers: { authorization: `Bearer ${token}` },
            signal: AbortSignal.timeout(30_000),
          });
          const body = await res.text();
          const fnErr = res.headers.get('x-amz-function-error');
          if (res.status === 200 && !fnErr) sync.ok++;
          else if (fnErr) bump(sync.errors, `function-error:${errorTypeOf(body)}`);
          else bump(sync.errors, `${res.status} ${res.headers.get('x-amzn-errortype') ?? ''}`.trim());
        } catch (err) {
          bump(sync.errors, networkKind(err));
        } finally {
          syncInFlight--;
          sync.latencies.push(Date.now() - t0);
        }
      };
      work.push(
        paced(
          RATE,
          () => running,
          (n) => {
            if (syncInFlight >= 64) return void sync.skipped++;
            sync.calls++;
            void syncCall(n);
          },
        ),
      );

      // ---- async: RATE events a second; a call not answered 202 is retried with its Idempotency-Key
      const asyncSent = { sent: 0, accepted: new Map<number, string>(), notAccepted: [] as number[] };
      const asyncErrors: Record<string, number> = {};
      const asyncCalls: Promise<void>[] = [];
      const sendWithRetries = async (id: number): Promise<void> => {
        for (let i = 0; i < 10; i++) {
          const r = await sendEvent(id, 300);
          if (r.requestId !== undefined) return void asyncSent.accepted.set(id, r.requestId);
          bump(asyncErrors, r.error ?? 'unknown');
          await sleep(Math.min(5000, 500 * 2 ** i));
        }
        asyncSent.notAccepted.push(id);
      };
      work.push(
        paced(
          RATE,
          () => running,
          (n) => {
            asyncSent.sent++;
            asyncCalls.push(sendWithRetries(n));
          },
        ),
      );

      // ---- queue: RATE records a second, each retried with its msgID until acked
      const queuePublished = new Set<number>();
      const publishErrors: Record<string, number> = {};
      const publishCalls: Promise<void>[] = [];
      let drainUntil = Infinity;
      const publishUntilAcked = async (
        subj: string,
        body: unknown,
        msgID: string,
      ): Promise<number | undefined> => {
        const deadline = () => running || Date.now() < drainUntil;
        while (deadline()) {
          try {
            const ack = await js!.publish(subj, JSON.stringify(body), { msgID, timeout: 5000 });
            return ack.seq;
          } catch (err) {
            bump(publishErrors, (err as Error).name || 'Error');
            await sleep(500);
          }
        }
        return undefined;
      };
      work.push(
        paced(
          RATE,
          () => running,
          (n) => {
            publishCalls.push(
              publishUntilAcked(queueSubject, { id: n }, `q-${tag}-${n}`).then((seq) => {
                if (seq !== undefined) queuePublished.add(n);
              }),
            );
          },
        ),
      );

      // ---- stream: KEYS.length keys, each published in order (the next only after the last's ack)
      const streamPublished: StreamRecord[] = [];
      for (const key of KEYS) {
        work.push(
          (async () => {
            for (let seq = 0; running; seq++) {
              const t0 = Date.now();
              const sseq = await publishUntilAcked(
                streamSubject(key),
                { key, seq },
                `s-${tag}-${key}-${seq}`,
              );
              if (sseq === undefined) return;
              streamPublished.push({ key, seq, sseq });
              await sleep(Math.max(0, (KEYS.length * 1000) / RATE - (Date.now() - t0)));
            }
          })(),
        );
      }

      // ---- chaos: every 20–30 s one fault
      const faults: Fault[] = [];
      const killed = { handler: false, runtime: false };
      while (Date.now() - started < SECONDS * 1000) {
        await sleep(20_000 + Math.random() * 10_000);
        if (Date.now() - started >= SECONDS * 1000) break;
        const elapsed = (Date.now() - started) / (SECONDS * 1000);
        const at = Math.round((Date.now() - started) / 1000);
        if (!killed.handler && elapsed >= 0.35) {
          killed.handler = true;
          faults.push({ at, ...(await killMidCall(ns, ['worker'], 'handler')) });
        } else if (!killed.runtime && elapsed >= 0.65) {
          killed.runtime = true;
          faults.push({ at, ...(await killMidCall(ns, ['stream', 'queue', 'worker'], 'runtime')) });
        } else {
          faults.push({ at, ...(await deleteRandomPod(ns)) });
        }
        console.log(`chaos: ${JSON.stringify(faults.at(-1))}`);
      }
      const chaosSeconds = Math.round((Date.now() - started) / 1000);

      // ---- drain: stop sending, then wait until everything accepted reached a final state
      running = false;
      drainUntil = Date.now() + DRAIN_SECONDS * 1000;
      await Promise.all(work);
      await Promise.all(asyncCalls);
      await Promise.all(publishCalls);
      const platform = await connectTenant(await platformCreds());
      const pjsm = await jetstreamManager(platform);
      const tjsm = await jetstreamManager(nc!);
      const acceptedAsync = new Set([...asyncSent.accepted.keys()]);
      const deadLetters = async (): Promise<FinalState[]> => {
        const out: FinalState[] = [];
        const idOf = new Map([...asyncSent.accepted].map(([id, rid]) => [rid, id]));
        for (let after = 0; ; ) {
          const res = await fetch(
            `${gw!.base}/sluice/v1/namespaces/${ns}/functions/worker/dead-letters?after=${after}&limit=500`,
            { headers: { authorization: `Bearer ${ops}` } },
          );
          if (res.status !== 200) throw new Error(`dead-letters list: ${res.status} ${await res.text()}`);
          const page = (await res.json()) as {
            items: { seq: number; time: string; requestId: string }[];
            next?: number;
          };
          for (const d of page.items) {
            const id = idOf.get(d.requestId);
            if (id !== undefined) out.push({ id, kind: 'deadLetter', at: Date.parse(d.time) });
          }
          if (page.next === undefined) return out;
          after = page.next;
        }
      };
      const finalsOf = (stored: { subject: string; record: InvocationRecord }[]): FinalState[] =>
        stored
          .filter((s) => s.subject === subject('ok') || s.subject === subject('failed'))
          .map((s) => ({
            id: (s.record.requestPayload as { id: number }).id,
            kind: s.subject === subject('ok') ? ('success' as const) : ('failure' as const),
            at: Date.parse(s.record.timestamp),
          }))
          .filter((f) => f.id >= 0);
      const queueFailedIds = (stored: { subject: string; record: InvocationRecord }[]): number[] =>
        stored
          .filter((s) => s.subject === subject('qfailed'))
          .flatMap((s) =>
            (s.record.requestPayload as { Records: { body: string }[] }).Records.map(
              (r) => (JSON.parse(r.body) as { id: number }).id,
            ),
          );
      const streamFailedRanges = (stored: { subject: string; record: InvocationRecord }[]) =>
        stored
          .filter((s) => s.subject === subject('sfailed'))
          .map((s) => {
            const info = (
              s.record as unknown as Record<
                string,
                { startSequenceNumber: string; endSequenceNumber: string }
              >
            ).NatsStreamBatchInfo;
            return { start: Number(info?.startSequenceNumber), end: Number(info?.endSequenceNumber) };
          });

      let snapshot = {
        entries: [] as LedgerEntry[],
        stored: [] as { subject: string; record: InvocationRecord }[],
        dead: [] as FinalState[],
      };
      const takeSnapshot = async (): Promise<void> => {
        snapshot = {
          // The warm-up (async and queue id -1, stream key "warm") is left out.
          entries: (await readLedger()).filter((e) => (e.id ?? 0) >= 0 && e.key !== 'warm'),
          stored: await collector!.stored(),
          dead: await deadLetters(),
        };
      };
      const settled = async (): Promise<true | undefined> => {
        await takeSnapshot();
        const a = accountAsync(acceptedAsync, snapshot.entries, [
          ...finalsOf(snapshot.stored),
          ...snapshot.dead,
        ]);
        const q = accountQueue(queuePublished, snapshot.entries, queueFailedIds(snapshot.stored));
        const s = accountStream(streamPublished, snapshot.entries, streamFailedRanges(snapshot.stored));
        if (a.lost.length || q.lost.length || s.lost.length) return undefined;
        const ci = await pjsm.consumers.info('SLUICE_ASYNC', consumerName(ns, 'worker'));
        if (ci.num_pending + ci.num_ack_pending > 0) return undefined;
        const qi = await tjsm.streams.info(queueStream);
        return qi.state.messages === 0 ? true : undefined;
      };
      const drainStarted = Date.now();
      let drained = false;
      // Not waitFor: the drain limit is the knob's, unscaled.
      while (!drained && Date.now() < drainUntil) {
        drained = (await settled().catch((err: Error) => void console.log(`drain: ${err.message}`))) === true;
        if (!drained) await sleep(2000);
      }
      if (!drained) await takeSnapshot();
      while (syncInFlight > 0) await sleep(100);
      const drainSeconds = Math.round((Date.now() - drainStarted) / 1000);
      const mappings = await mappingStates(ns);
      // Not processed is not necessarily gone: how many of those records the streams still hold.
      const queueHeld = (await tjsm.streams.info(queueStream)).state.messages;
      const streamState = (await tjsm.streams.info(streamStream)).state;
      await platform.close();

      // ---- account, write the results, then assert
      const asyncAcc = accountAsync(acceptedAsync, snapshot.entries, [
        ...finalsOf(snapshot.stored),
        ...snapshot.dead,
      ]);
      const queueAcc = accountQueue(queuePublished, snapshot.entries, queueFailedIds(snapshot.stored));
      const streamAcc = accountStream(streamPublished, snapshot.entries, streamFailedRanges(snapshot.stored));
      const syncErrors = Object.values(sync.errors).reduce((a, b) => a + b, 0);
      const undocumented = Object.fromEntries(
        Object.entries(sync.errors).filter(([k]) => !RETRYABLE_SYNC.test(k)),
      );
      const faultsByKind: Record<string, number> = {};
      for (const f of faults) bump(faultsByKind, f.kind);
      const lat = [...sync.latencies].sort((a, b) => a - b);
      const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
      const results = {
        date: new Date().toISOString(),
        host: { cpus: cpus().length, node: process.version },
        commit: await gitHead(),
        setup: {
          chaosSeconds,
          drainSeconds,
          drainLimitSeconds: DRAIN_SECONDS,
          drained,
          ratePerWorkload: RATE,
          streamKeys: KEYS.length,
          faultEverySeconds: '20-30',
          podDeletion: 'graceful (default grace period), one random pod of a random kind',
          lost: 'accepted (202 / PubAck) but with no final state (async) or never processed (queue, stream) by the end of the drain; lostButStill* counts those the streams still hold (stuck, not gone)',
        },
        faults: { total: faults.length, byKind: faultsByKind, list: faults },
        mappingsAfterDrain: mappings,
        sync: {
          calls: sync.calls,
          ok: sync.ok,
          skippedOver64InFlight: sync.skipped,
          errors: syncErrors,
          errorRate: sync.calls ? Number((syncErrors / sync.calls).toFixed(4)) : 0,
          errorsByKind: sync.errors,
          undocumentedErrors: undocumented,
          latencyMs: { p50: pct(0.5), p99: pct(0.99), max: lat.at(-1) ?? 0 },
        },
        async: {
          sent: asyncSent.sent,
          notAcceptedAfterRetries: asyncSent.notAccepted.length,
          acceptErrorsByKind: asyncErrors,
          ...asyncAcc,
          lost: asyncAcc.lost.length,
          lostIds: asyncAcc.lost.slice(0, 100),
          duplicateFinalStates: asyncAcc.duplicateFinalStates.length,
          duplicateFinalStateIds: asyncAcc.duplicateFinalStates.slice(0, 100),
          executedAfterFinal: asyncAcc.executedAfterFinal.length,
          executedAfterFinalList: asyncAcc.executedAfterFinal.slice(0, 100),
          succeededUnrecorded: asyncAcc.succeededUnrecorded.length,
          unacceptedExecuted: asyncAcc.unacceptedExecuted.length,
        },
        queue: {
          publishErrorsByKind: publishErrors,
          ...queueAcc,
          lost: queueAcc.lost.length,
          lostIds: queueAcc.lost.slice(0, 100),
          lostButStillInQueue: Math.min(queueHeld, queueAcc.lost.length),
          unacceptedExecuted: queueAcc.unacceptedExecuted.length,
        },
        stream: {
          ...streamAcc,
          lost: streamAcc.lost.length,
          lostRecords: streamAcc.lost.slice(0, 100),
          lostButStillInStream: streamAcc.lost.filter(
            (r) => r.sseq >= streamState.first_seq && r.sseq <= streamState.last_seq,
          ).length,
          orderViolations: streamAcc.orderViolations.length,
          orderViolationList: streamAcc.orderViolations.slice(0, 100),
        },
      };
      const out = join(ROOT, 'bench-results', 'chaos.json');
      mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
      writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
      console.log(
        `chaos results (${out}):\n${JSON.stringify({ ...results, faults: results.faults.byKind }, null, 2)}`,
      );

      // Soft: every broken promise is reported, not only the first (the JSON above has them all).
      const first = <T>(list: T[]): T[] => list.slice(0, 20);
      expect.soft(faults.length, 'faults injected').toBeGreaterThan(0);
      expect
        .soft(
          faults.filter((f) => f.kind.startsWith('kill:')).map((f) => f.kind),
          'processes killed mid-call',
        )
        .toEqual(SECONDS >= 60 ? ['kill:handler', 'kill:runtime'] : expect.anything());
      expect.soft(sync.calls).toBeGreaterThan(0);
      expect.soft(undocumented, 'sync errors of kinds a client does not retry').toEqual({});
      expect.soft(first(asyncAcc.lost), 'async events accepted (202) but never in a final state').toEqual([]);
      expect.soft(first(asyncAcc.executedAfterFinal), 'async events run after their final state').toEqual([]);
      expect.soft(first(queueAcc.lost), 'queue records acked by JetStream but never processed').toEqual([]);
      expect.soft(first(streamAcc.lost), 'stream records acked by JetStream but never processed').toEqual([]);
      expect.soft(first(streamAcc.orderViolations), 'stream records out of order within a key').toEqual([]);
      expect.soft(drained, 'everything settled within the drain').toBe(true);
    },
    (SECONDS + DRAIN_SECONDS + 900) * 1000,
  );
});

/** Each mapping's state, backlog and last processing result (how a stalled mapping shows). */
async function mappingStates(ns: string): Promise<Record<string, unknown>> {
  const r = await kubectl(['-n', ns, 'get', 'esm', '-o', 'json']);
  if (r.code !== 0) return { error: r.stderr };
  const list = JSON.parse(r.stdout) as {
    items: { metadata: { name: string }; status?: Record<string, unknown> }[];
  };
  return Object.fromEntries(
    list.items.map((m) => [
      m.metadata.name,
      {
        state: m.status?.state,
        backlog: m.status?.backlog,
        owner: m.status?.owner,
        lastProcessingResult: m.status?.lastProcessingResult,
      },
    ]),
  );
}

/** Calls `tick(n)` RATE times a second (n = 0, 1, …) while `on()` holds. */
async function paced(rate: number, on: () => boolean, tick: (n: number) => void): Promise<void> {
  const t0 = Date.now();
  for (let n = 0; on(); n++) {
    tick(n);
    await sleep(Math.max(0, t0 + ((n + 1) * 1000) / rate - Date.now()));
  }
}

function networkKind(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string; name?: string } };
  if (e.name === 'TimeoutError') return 'network:timeout';
  return `network:${e.cause?.code ?? e.cause?.name ?? e.name ?? 'error'}`;
}

function errorTypeOf(body: string): string {
  try {
    return String((JSON.parse(body) as { errorType?: string }).errorType ?? 'unknown');
  } catch {
    return 'unknown';
  }
}

async function gitHead(): Promise<string> {
  return run('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT })
    .then((r) => r.stdout.trim())
    .catch(() => 'unknown');
}

const TARGETS: { kind: string; namespace?: string; selector: string }[] = [
  { kind: 'gateway', namespace: SYSTEM_NS, selector: 'app.kubernetes.io/name=sluice-gateway' },
  { kind: 'poller', namespace: SYSTEM_NS, selector: 'app.kubernetes.io/name=sluice-poller' },
  { kind: 'controller', namespace: SYSTEM_NS, selector: 'app.kubernetes.io/name=sluice-controller' },
  { kind: 'nats', namespace: SYSTEM_NS, selector: 'app.kubernetes.io/name=sluice-nats' },
  { kind: 'function', selector: 'app.kubernetes.io/component=function' },
];

/** Live (not terminating) pods matching a selector. */
async function livePods(namespace: string, selector: string) {
  const pods = await cluster().core.listNamespacedPod({ namespace, labelSelector: selector });
  return pods.items.filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase === 'Running');
}

/** Kinds still to hit in this round: every kind once per round, in a random order, so a run of
 * five faults or more deletes a pod of each (NATS included) and runs are comparable. */
let deck: typeof TARGETS = [];

/** Deletes one random pod of the next kind in the round (graceful, as `kubectl delete pod` does). */
async function deleteRandomPod(ns: string): Promise<Omit<Fault, 'at'>> {
  if (deck.length === 0) deck = [...TARGETS].sort(() => Math.random() - 0.5);
  const t = deck.pop()!;
  const namespace = t.namespace ?? ns;
  const pods = await livePods(namespace, t.selector);
  const pod = pods[Math.floor(Math.random() * pods.length)];
  if (!pod) return { kind: `delete:${t.kind}`, target: '', detail: 'no live pod' };
  const name = pod.metadata!.name!;
  try {
    await cluster().core.deleteNamespacedPod({ namespace, name });
    return { kind: `delete:${t.kind}`, target: `${namespace}/${name}` };
  } catch (err) {
    return { kind: `delete:${t.kind}`, target: `${namespace}/${name}`, detail: `failed: ${String(err)}` };
  }
}

/**
 * SIGKILLs, on the node, a process of a container of one of `fns` while it runs an invocation:
 * `handler` is a Node.js runtime client that sluice-runtime spawned (the function's code, one per
 * execution environment), `runtime` its parent, the container's sluice-runtime. The container's
 * processes come from containerd (`ctr task ps` on the cluster's socket); "mid-call" means the
 * handler process has an in-flight marker in the container's /tmp (read through /proc/PID/root;
 * the marker carries the handler's pid inside the container, /proc/PID/status NSpid).
 */
async function killMidCall(
  ns: string,
  fns: string[],
  which: 'handler' | 'runtime',
): Promise<Omit<Fault, 'at'>> {
  const kind = `kill:${which}`;
  const address = cluster().env.SLUICE_CONTAINERD_ADDRESS ?? '/run/sluice-cluster/containerd/containerd.sock';
  const deadline = Date.now() + 30_000;
  let last = 'no running pod';
  while (Date.now() < deadline) {
    for (const pod of await livePods(ns, `sluice.dev/function in (${fns.join(',')})`)) {
      const cid = pod.status?.containerStatuses?.find((c) => c.name === 'function')?.containerID;
      if (!cid) continue;
      const id = cid.replace(/^containerd:\/\//, '');
      const ps = await run('ctr', ['--address', address, '-n', 'k8s.io', 'task', 'ps', id]).catch(
        (err: Error) => ({ stdout: '', stderr: err.message }),
      );
      const pids = ps.stdout
        .split('\n')
        .map((l) => Number(l.trim().split(/\s+/)[0]))
        .filter((pid) => pid > 0);
      last = `pod ${pod.metadata?.name}: ${pids.length} processes ${ps.stderr.trim()}`;
      const busy = pids.find((pid) => cmdline(pid).includes('node-client') && inFlight(pid) > 0);
      if (busy === undefined) continue;
      const target = which === 'handler' ? busy : parentOf(busy);
      if (target === undefined) continue;
      const detail = `pid ${target} (${cmdline(target).slice(0, 90)}), handler pid ${busy} with ${inFlight(busy)} call(s) in flight; container ${id.slice(0, 12)}`;
      try {
        process.kill(target, 'SIGKILL');
      } catch (err) {
        return {
          kind: `${kind}-failed`,
          target: `${ns}/${pod.metadata?.name}`,
          detail: `${detail}: ${String(err)}`,
        };
      }
      return { kind, target: `${ns}/${pod.metadata?.name}`, detail };
    }
    await sleep(20);
  }
  return {
    kind: `${kind}-missed`,
    target: `${ns}/${fns.join(',')}`,
    detail: `nothing in flight to kill: ${last}`,
  };
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

/** A line of /proc/PID/status (e.g. PPid, NSpid), its last field. */
function statusField(pid: number, field: string): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${field}:`));
    const v = Number(line?.trim().split(/\s+/).at(-1));
    return v > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

const parentOf = (pid: number): number | undefined => statusField(pid, 'PPid');

/** Calls in flight in a handler process: its markers (named after its pid in the container) in /tmp. */
function inFlight(pid: number): number {
  const inner = statusField(pid, 'NSpid');
  try {
    return readdirSync(`/proc/${pid}/root/tmp`).filter((f) => f.startsWith(`inflight-${inner}-`)).length;
  } catch {
    return 0;
  }
}
