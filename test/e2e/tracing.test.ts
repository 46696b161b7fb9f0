/**
 * OpenTelemetry traces on the real cluster (issue 8): the platform installed with
 * `telemetry.otlp.endpoint` pointing at a test OTLP receiver (test/support/otlp-receiver.mjs, run as
 * a pod from the platform image) sends one connected trace per call — for a sync call (client →
 * gateway → runtime → handler), an async call (client → gateway accept → queue → dispatcher →
 * runtime → handler) and an event-source delivery (producer → poller → gateway → runtime →
 * handler). The client's own span is the root each time: the test sends its traceparent.
 *
 * The file reinstalls the platform without telemetry at its end (and in afterAll), so the e2e
 * files after it run on the normal install.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, RetentionPolicy } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { ROOT } from '../../api/paths.js';
import {
  API,
  fnManifest,
  forwardGateway,
  serviceAccountToken,
  SYSTEM_NS,
  waitReady,
  type Forward,
} from './support/gateway.js';
import { reinstall } from './support/helm.js';
import { apply, cluster, createNamespace, dumpNamespace, forward, kubectl, waitFor } from './support/kube.js';
import { connectNats, tenantCreds } from './support/nats.js';

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  service: string;
  attributes: Record<string, unknown>;
}

const RECEIVER_LABELS = { app: 'otlp-receiver' };
const FN = 'traced';
const HANDLER = `exports.handler = async (event) => ({ ok: true, records: event.Records ? event.Records.length : 0 });`;

let ns = '';
let removeNs: () => Promise<void> = () => Promise.resolve();
let gw: Forward | undefined;
let receiver: Forward | undefined;
let natsFwd: Forward | undefined;
let nc: NatsConnection | undefined;
let token = '';
const stream = `TRACE_${randomBytes(3).toString('hex').toUpperCase()}`;
const subject = `${stream.toLowerCase()}.jobs`;

/** A W3C context of the test's own (client or producer) span: the root every trace must lead to. */
function clientContext(): { traceId: string; spanId: string; traceparent: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

async function spansOf(traceId: string): Promise<Span[]> {
  const res = await fetch(`${receiver?.base}/spans?traceId=${traceId}`);
  return (await res.json()) as Span[];
}

/** Parent ids that are neither the root nor a span the receiver has: the trace is not connected (yet). */
function danglingParents(spans: Span[], rootSpanId: string): string[] {
  const ids = new Set(spans.map((s) => s.spanId));
  return spans.filter((s) => s.parentSpanId !== rootSpanId && !ids.has(s.parentSpanId)).map((s) => s.name);
}

/** The chain of span names from `span` up to the root (the client's span). */
function pathToRoot(spans: Span[], span: Span, rootSpanId: string): string[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const names: string[] = [];
  let cur: Span | undefined = span;
  while (cur && names.length < 50) {
    names.push(`${cur.service}:${cur.name}`);
    if (cur.parentSpanId === rootSpanId) return [...names, 'client'];
    cur = byId.get(cur.parentSpanId);
  }
  return names;
}

/**
 * Waits for the trace's handler span and for every span's parent to be there (exporters batch,
 * so spans arrive over a few seconds), and returns the spans.
 */
async function connectedTrace(ctx: { traceId: string; spanId: string }): Promise<Span[]> {
  let last: Span[] = [];
  onTestFailed(() => console.log(`spans of trace ${ctx.traceId}:\n${JSON.stringify(last, null, 1)}`));
  return waitFor(
    `a connected trace ${ctx.traceId} reaching the handler`,
    async () => {
      last = await spansOf(ctx.traceId);
      const handler = last.find((s) => s.name === FN && s.service === FN);
      // A short settle after the handler span: spans of the callers end later and arrive later.
      return handler && danglingParents(last, ctx.spanId).length === 0 ? last : undefined;
    },
    90_000,
    1000,
  );
}

function handlerPath(spans: Span[], root: string): string[] {
  const handler = spans.find((s) => s.name === FN && s.service === FN);
  expect(handler).toBeDefined();
  const path = pathToRoot(spans, handler as Span, root);
  console.log(`trace ${handler?.traceId} (${spans.length} spans): ${path.join(' ← ')}`);
  return path;
}

async function receiverManifests(namespace: string): Promise<void> {
  const image = cluster().env.SLUICE_IMAGE_PLATFORM ?? 'localhost/sluice/platform:dev';
  await apply({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'otlp-receiver', namespace },
    data: { 'otlp-receiver.mjs': readFileSync(join(ROOT, 'test/support/otlp-receiver.mjs'), 'utf8') },
  });
  await apply({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'otlp-receiver', namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: RECEIVER_LABELS },
      template: {
        metadata: { labels: RECEIVER_LABELS },
        spec: {
          automountServiceAccountToken: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 65532,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'receiver',
              image,
              imagePullPolicy: 'IfNotPresent',
              args: ['/receiver/otlp-receiver.mjs'],
              env: [{ name: 'PORT', value: '4318' }],
              ports: [{ name: 'otlp-http', containerPort: 4318 }],
              readinessProbe: { httpGet: { path: '/healthz', port: 4318 }, periodSeconds: 2 },
              volumeMounts: [{ name: 'script', mountPath: '/receiver', readOnly: true }],
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
          volumes: [{ name: 'script', configMap: { name: 'otlp-receiver' } }],
        },
      },
    },
  });
  await apply({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'otlp-receiver', namespace },
    spec: { selector: RECEIVER_LABELS, ports: [{ name: 'otlp-http', port: 4318, targetPort: 4318 }] },
  });
  const r = await kubectl(['-n', namespace, 'rollout', 'status', 'deploy/otlp-receiver', '--timeout=120s']);
  if (r.code !== 0) throw new Error(`otlp-receiver not ready: ${r.stderr}`);
}

async function invoke(
  ctx: { traceparent: string },
  type: 'RequestResponse' | 'Event',
): Promise<{ status: number; body: string }> {
  const name = encodeURIComponent(`${ns}:function:${FN}`);
  const res = await fetch(`${gw?.base}/2015-03-31/functions/${name}/invocations`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'x-amz-invocation-type': type,
      traceparent: ctx.traceparent,
    },
    body: JSON.stringify({ hello: 'trace' }),
  });
  return { status: res.status, body: await res.text() };
}

describe('OpenTelemetry traces through the platform', () => {
  beforeAll(async () => {
    const created = await createNamespace('e2e-trace');
    ns = created.name;
    removeNs = created.remove;
    await receiverManifests(ns);
    // The platform with telemetry: the gateway, poller and controller export to the receiver, and
    // the controller gives function pods the endpoint and a NetworkPolicy egress to the receiver.
    await reinstall([
      '--set',
      `telemetry.otlp.endpoint=http://otlp-receiver.${ns}.svc:4318`,
      '--set',
      'telemetry.otlp.protocol=http/json',
      '--set',
      `telemetry.collector.namespace=${ns}`,
      '--set',
      `telemetry.collector.podLabels.app=${RECEIVER_LABELS.app}`,
    ]);
    receiver = await forward(`svc/${ns}/otlp-receiver:4318`);
    gw = await forwardGateway();
    natsFwd = await forward(`svc/${SYSTEM_NS}/sluice-nats:4222`);
    // The namespace's own account: its streams, and the records of its nats: destinations.
    nc = await connectNats(natsFwd, await tenantCreds(ns));
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [subject], retention: RetentionPolicy.Workqueue });
    await apply(
      fnManifest(ns, FN, {
        code: { inline: HANDLER },
        scaling: { minReplicas: 1, maxReplicas: 1, concurrencyPerPod: 4 },
        async: { maxRetryAttempts: 0, retryDelaySeconds: 1 },
      }),
    );
    await waitReady(ns, FN);
    await apply({
      apiVersion: API,
      kind: 'EventSourceMapping',
      metadata: { name: 'jobs', namespace: ns },
      spec: {
        function: FN,
        source: { natsQueue: { stream } },
        batchSize: 10,
        maximumBatchingWindowSeconds: 1,
      },
    });
    token = await serviceAccountToken(ns, 'default');
  }, 600_000);

  afterAll(async () => {
    await nc?.close().catch(() => undefined);
    if (nc)
      await jetstreamManager(nc)
        .then((j) => j.streams.delete(stream))
        .catch(() => undefined);
    await Promise.all([gw?.stop(), receiver?.stop(), natsFwd?.stop()]);
    await removeNs();
    // The normal install (no telemetry) for the files after this one.
    await reinstall();
  }, 400_000);

  it('the function pods export to the receiver and may reach it', async () => {
    onTestFailed(() => dumpNamespace(ns));
    const pods = await kubectl(['-n', ns, 'get', 'pods', '-l', `sluice.dev/function=${FN}`, '-o', 'json']);
    const env = (
      JSON.parse(pods.stdout) as {
        items: { spec: { containers: { name: string; env?: { name: string; value?: string }[] }[] } }[];
      }
    ).items[0]?.spec.containers.find((c) => c.name === 'function')?.env;
    expect(env?.find((e) => e.name === 'OTEL_EXPORTER_OTLP_ENDPOINT')?.value).toBe(
      `http://otlp-receiver.${ns}.svc:4318`,
    );
    expect(env?.find((e) => e.name === 'OTEL_SERVICE_NAME')?.value).toBe(FN);
  });

  it('a sync call: one trace client → gateway → runtime → handler', async () => {
    onTestFailed(() => dumpNamespace(ns));
    const ctx = clientContext();
    const res = await invoke(ctx, 'RequestResponse');
    expect(res.status, res.body).toBe(200);
    const spans = await connectedTrace(ctx);
    const path = handlerPath(spans, ctx.spanId);
    expect(path[0]).toBe(`${FN}:${FN}`);
    expect(path[1]).toBe(`${FN}:sluice-runtime invoke`);
    expect(path).toContain('sluice-gateway:invoke function');
    expect(path.at(-2)).toMatch(/^sluice-gateway:POST /);
    expect(path.at(-1)).toBe('client');
    expect(danglingParents(spans, ctx.spanId)).toEqual([]);
  });

  it('an async call: one trace client → gateway accept → queue → dispatcher → runtime → handler', async () => {
    onTestFailed(() => dumpNamespace(ns));
    const ctx = clientContext();
    const res = await invoke(ctx, 'Event');
    expect(res.status, res.body).toBe(202);
    const spans = await connectedTrace(ctx);
    const path = handlerPath(spans, ctx.spanId);
    expect(path[0]).toBe(`${FN}:${FN}`);
    expect(path[1]).toBe(`${FN}:sluice-runtime invoke`);
    // The dispatcher's span follows the accepting call's server span across the queue.
    const dispatch = path.indexOf('sluice-gateway:async invoke');
    expect(dispatch, path.join(' ← ')).toBeGreaterThan(1);
    expect(path[dispatch + 1], path.join(' ← ')).toMatch(/^sluice-gateway:POST /);
    expect(path.at(-1)).toBe('client');
    expect(danglingParents(spans, ctx.spanId)).toEqual([]);
  });

  it('an event-source delivery: one trace producer → poller → gateway → runtime → handler', async () => {
    onTestFailed(() => dumpNamespace(ns));
    const ctx = clientContext();
    const js = jetstream(nc as NatsConnection);
    const h = natsHeaders();
    h.set('traceparent', ctx.traceparent);
    await js.publish(subject, JSON.stringify({ job: 1 }), { headers: h });
    const spans = await connectedTrace(ctx);
    const path = handlerPath(spans, ctx.spanId);
    expect(path[0]).toBe(`${FN}:${FN}`);
    expect(path[1]).toBe(`${FN}:sluice-runtime invoke`);
    expect(path).toContain('sluice-gateway:invoke function');
    // The poller's consumer span is the producer's child and the gateway call's parent.
    expect(path.at(-2), path.join(' ← ')).toBe(`sluice-poller:${stream} process`);
    expect(path.at(-1)).toBe('client');
    const poller = spans.find((s) => s.service === 'sluice-poller');
    expect(poller?.attributes['messaging.batch.message_count']).toBe(1);
    expect(poller?.attributes['sluice.mapping']).toBe('jobs');
  });
});
