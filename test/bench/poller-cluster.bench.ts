/**
 * Scale-up reaction time on the real cluster (`npx tsx test/bench/poller-cluster.bench.ts`; needs
 * the local cluster with the chart installed, e.g. after `make test-e2e`): a function at zero
 * replicas behind a `natsQueue` mapping; a backlog is published to its work queue and we time
 * - backlog appears (publish acked) → the Deployment's scale is written (spec.replicas ≥ 1), and
 * - backlog appears → a new pod of the function is Ready.
 * Between samples the function goes back to zero (scaleToZeroAfterSeconds: 1) and its pods are gone.
 * Median and max of the samples go to bench-results/poller-cluster.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { AppsV1Api } from '@kubernetes/client-node';
import { jetstream, jetstreamManager, RetentionPolicy } from '@nats-io/jetstream';
import { ROOT } from '../../api/paths.js';
import { API, fnManifest, SYSTEM_NS } from '../e2e/support/gateway.js';
import { apply, cluster, createNamespace, forward, kubectl, waitFor } from '../e2e/support/kube.js';
import { connectNats, tenantCreds } from '../e2e/support/nats.js';

const SAMPLES = Number(process.env.SLUICE_BENCH_SAMPLES ?? 5);
const HANDLER = `exports.handler = async () => ({ batchItemFailures: [] });`;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
};

/** Polls until the Deployment's scale is written and then until a pod is Ready; times from t0. */
async function observe(
  apps: AppsV1Api,
  ns: string,
  deployName: string,
  selector: string,
  t0: number,
): Promise<{ scaledAt: number; readyAt: number; writer: string }> {
  const { core } = cluster();
  let scaledAt = 0;
  let writer = '';
  while (!scaledAt && performance.now() - t0 < 120_000) {
    const d = await apps.readNamespacedDeployment({ name: deployName, namespace: ns });
    if ((d.spec?.replicas ?? 0) >= 1) {
      scaledAt = performance.now();
      const raw = d.metadata?.annotations?.['sluice.dev/scale-decision'];
      const last = raw ? (JSON.parse(raw) as { to?: number; reason?: string }) : {};
      writer =
        (last.to ?? 0) >= 1 ? `autoscaler: ${last.reason}` : 'not the autoscaler (a gateway scale-from-zero)';
    } else await new Promise((r) => setTimeout(r, 50));
  }
  let readyAt = 0;
  while (scaledAt && !readyAt && performance.now() - t0 < 120_000) {
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: selector });
    const isReady = pods.items.some(
      (p) =>
        !p.metadata?.deletionTimestamp &&
        p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    if (isReady) readyAt = performance.now();
    else await new Promise((r) => setTimeout(r, 50));
  }
  return { scaledAt, readyAt, writer };
}

async function main(): Promise<void> {
  const { kc, core } = cluster();
  const apps = kc.makeApiClient(AppsV1Api);
  const tag = randomBytes(3).toString('hex');
  const stream = `BENCH_SCALE_${tag.toUpperCase()}`;
  const subject = `benchq.${tag}.jobs`;
  const { name: ns, remove } = await createNamespace('bench-esm');
  const natsFwd = await forward(`svc/${SYSTEM_NS}/sluice-nats:4222`);
  // The namespace's own account (its Secret sluice-nats): the stream the mapping reads is the namespace's.
  const nc = await connectNats(natsFwd, await tenantCreds(ns));
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const selector = 'sluice.dev/function=noop,sluice.dev/version=latest';
  try {
    await jsm.streams.add({ name: stream, subjects: [subject], retention: RetentionPolicy.Workqueue });
    await apply(
      fnManifest(ns, 'noop', {
        code: { inline: HANDLER },
        scaling: { minReplicas: 0, maxReplicas: 2, concurrencyPerPod: 1, scaleToZeroAfterSeconds: 1 },
      }),
    );
    await apply({
      apiVersion: API,
      kind: 'EventSourceMapping',
      metadata: { name: 'jobs', namespace: ns },
      spec: { function: 'noop', source: { natsQueue: { stream } }, recordFormat: 'sqs', batchSize: 10 },
    });
    await waitFor('the mapping to be Enabled', async () => {
      const r = await kubectl(['-n', ns, 'get', 'esm', 'jobs', '-o', 'jsonpath={.status.state}']);
      return r.stdout === 'Enabled' ? true : undefined;
    });
    const deployName = await waitFor('the noop Deployment', async () => {
      const l = await apps.listNamespacedDeployment({ namespace: ns, labelSelector: selector });
      return l.items[0]?.metadata?.name;
    });

    const decision: number[] = [];
    const ready: number[] = [];
    const writers: string[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      // Start from zero: no replicas wanted and no pod left.
      await waitFor(
        'the function at zero with no pods',
        async () => {
          const d = await apps.readNamespacedDeployment({ name: deployName, namespace: ns });
          const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: selector });
          return d.spec?.replicas === 0 && pods.items.length === 0 ? true : undefined;
        },
        120_000,
        250,
      );
      await new Promise((r) => setTimeout(r, 2000));
      await Promise.all(Array.from({ length: 50 }, (_, n) => js.publish(subject, JSON.stringify({ n }))));
      const t0 = performance.now();
      const { scaledAt, readyAt, writer } = await observe(apps, ns, deployName, selector, t0);
      writers.push(writer);
      if (!scaledAt || !readyAt) throw new Error(`sample ${i}: no scale-up within 120 s`);
      decision.push(Math.round(scaledAt - t0));
      ready.push(Math.round(readyAt - t0));
      console.log(
        `sample ${i}: scale written after ${decision.at(-1)} ms, pod Ready after ${ready.at(-1)} ms`,
      );
      await waitFor(
        'the queue to drain',
        async () => ((await jsm.streams.info(stream)).state.messages === 0 ? true : undefined),
        60_000,
        250,
      );
    }

    const result = {
      samples: SAMPLES,
      note: 'function at 0 replicas; 50 messages published to its natsQueue mapping (batchSize 10); times from the publish ack, observed by polling the API server every 50 ms',
      backlogToScaleWrittenMs: { samples: decision, p50: median(decision), max: Math.max(...decision) },
      backlogToPodReadyMs: { samples: ready, p50: median(ready), max: Math.max(...ready) },
      scaleDecisions: writers,
      at: new Date().toISOString(),
    };
    mkdirSync(path.join(ROOT, 'bench-results'), { recursive: true });
    writeFileSync(
      path.join(ROOT, 'bench-results/poller-cluster.json'),
      JSON.stringify(result, null, 2) + '\n',
    );
    console.log(
      `scale-up from zero: scale written p50 ${result.backlogToScaleWrittenMs.p50} ms, pod Ready p50 ${result.backlogToPodReadyMs.p50} ms`,
    );
  } finally {
    await kubectl(['-n', ns, 'delete', 'esm', '--all', '--wait=true', '--timeout=30s']);
    await jsm.streams.delete(stream).catch(() => undefined);
    await nc.close();
    await natsFwd.stop();
    await remove();
  }
}

await main();
