/**
 * The Helm chart's lifecycle on the real cluster: `helm lint`; `helm upgrade` to a changed
 * platform image while async events are in flight loses none of them (each accounted for exactly
 * once through a `nats:` onSuccess destination) and functions keep answering; `helm uninstall`
 * leaves nothing behind but what users keep (the CRDs, their Functions, NATS's data claim). The
 * file reinstalls the platform at its end (and in afterAll) with test/install.sh, so the e2e files
 * after it run on the normal install.
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
  getFn,
  serviceAccountToken,
  SYSTEM_NS,
  waitReady,
  type Forward,
} from './support/gateway.js';
import { helm, reinstall, sh, type Run } from './support/helm.js';
import { apply, cluster, createNamespace, dumpNamespace, forward, kubectl, waitFor } from './support/kube.js';
import { connectNats, platformCreds, tenantCreds } from './support/nats.js';

const WORKER = `
exports.handler = async (e) => {
  await new Promise((r) => setTimeout(r, 300));
  return { done: e.id };
};`;

/** `helm upgrade` of the release to another platform image tag, keeping the other values. */
const upgradeImageTag = (tag: string): Promise<Run> =>
  helm([
    'upgrade',
    'sluice',
    'charts/sluice',
    '-n',
    SYSTEM_NS,
    '--reuse-values',
    '--set',
    `image.tag=${tag}`,
    '--wait',
    '--timeout',
    '240s',
  ]);

/** The live (not terminating) pods of the gateway, controller and poller. */
async function platformPods(): Promise<{ name: string; component: string; image: string }[]> {
  const r = await kubectl([
    '-n',
    SYSTEM_NS,
    'get',
    'pods',
    '-l',
    'app.kubernetes.io/name in (sluice-gateway,sluice-controller,sluice-poller)',
    '-o',
    'json',
  ]);
  if (r.code !== 0) throw new Error(`the platform's pods: ${r.stderr}`);
  const list = JSON.parse(r.stdout) as {
    items: {
      metadata: { name: string; labels: Record<string, string>; deletionTimestamp?: string };
      spec: { containers: { image: string }[] };
    }[];
  };
  return list.items
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => ({
      name: p.metadata.name,
      component: p.metadata.labels['app.kubernetes.io/name'] ?? '',
      image: p.spec.containers[0]?.image ?? '',
    }));
}

/** The platform image the release runs now (repository:tag). */
async function platformImage(): Promise<string> {
  const r = await kubectl([
    '-n',
    SYSTEM_NS,
    'get',
    'deploy',
    'sluice-gateway',
    '-o',
    'jsonpath={.spec.template.spec.containers[0].image}',
  ]);
  if (r.code !== 0 || !r.stdout) throw new Error(`the gateway Deployment: ${r.stderr}`);
  return r.stdout.trim();
}

describe('the Helm chart on the real cluster', () => {
  let ns = '';
  let removeNs: () => Promise<void> = () => Promise.resolve();
  let gw: Forward | undefined;
  let natsFwd: Forward | undefined;
  let nc: NatsConnection | undefined;
  let collector: RecordCollector | undefined;
  let token = '';
  let uninstalled = false;
  const tag = randomBytes(3).toString('hex');
  const stream = `E2E_HELM_${tag.toUpperCase()}`;
  const okSubject = `e2e.${tag}.ok`;
  const dumpOnFailure = (): void => onTestFailed(() => dumpNamespace(ns));

  const closeNats = async (): Promise<void> => {
    collector?.stop();
    collector = undefined;
    if (nc) {
      await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
      await nc.close().catch(() => undefined);
      nc = undefined;
    }
    await natsFwd?.stop();
    natsFwd = undefined;
  };

  const sendEvent = async (event: unknown): Promise<string> => {
    const res = await fetch(`${gw?.base}/2015-03-31/functions/${ns}%3Afunction%3Aworker/invocations`, {
      method: 'POST',
      body: JSON.stringify(event),
      headers: { authorization: `Bearer ${token}`, 'x-amz-invocation-type': 'Event' },
    });
    const text = await res.text();
    if (res.status !== 202) throw new Error(`Event call answered ${res.status}: ${text}`);
    return res.headers.get('x-amzn-requestid') ?? '';
  };

  /** A sync call through the gateway; retried while the gateway's pods roll. */
  const syncCall = (id: string): Promise<unknown> =>
    waitFor(
      `a sync call (${id}) to answer 200`,
      async () => {
        const res = await fetch(`${gw?.base}/2015-03-31/functions/${ns}%3Afunction%3Aworker/invocations`, {
          method: 'POST',
          body: JSON.stringify({ id }),
          headers: { authorization: `Bearer ${token}` },
          signal: AbortSignal.timeout(10_000),
        });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`answered ${res.status}: ${text}`);
        return JSON.parse(text) as unknown;
      },
      60_000,
      500,
    );

  beforeAll(async () => {
    const created = await createNamespace('e2e-helm');
    ns = created.name;
    removeNs = created.remove;
    gw = await forwardGateway();
    natsFwd = await forward(`svc/${SYSTEM_NS}/sluice-nats:4222`);
    // The namespace's own account: its streams, and the records of its nats: destinations.
    nc = await connectNats(natsFwd, await tenantCreds(ns));
    collector = await RecordCollector.start(nc, stream, [`e2e.${tag}.>`]);
    await apply(
      fnManifest(ns, 'worker', {
        code: { inline: WORKER },
        timeoutSeconds: 10,
        scaling: { minReplicas: 1, maxReplicas: 2, concurrencyPerPod: 4 },
        async: { maxRetryAttempts: 2, retryDelaySeconds: 1, onSuccess: `nats:${okSubject}` },
      }),
    );
    token = await serviceAccountToken(ns, 'default');
    await waitReady(ns, 'worker');
    await waitFor('the async pipeline to take events for worker', () =>
      sendEvent({ id: -1 }).catch(() => undefined),
    );
    await waitFor('the warm-up record', () =>
      Promise.resolve(
        collector?.of(okSubject).some((r) => (r.requestPayload as { id?: number }).id === -1)
          ? true
          : undefined,
      ),
    );
  });

  afterAll(async () => {
    await closeNats();
    await gw?.stop();
    // Leave the platform installed as test/install.sh installs it, whatever happened above.
    const status = await helm(['status', 'sluice', '-n', SYSTEM_NS]);
    const normal = cluster().env.SLUICE_IMAGE_PLATFORM ?? 'localhost/sluice/platform:dev';
    if (uninstalled || status.code !== 0 || (await platformImage().catch(() => '')) !== normal)
      await reinstall();
    await removeNs();
  });

  it('helm lint passes', async () => {
    const r = await helm(['lint', 'charts/sluice']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('helm upgrade to a changed platform image during an async run: every accepted event succeeds exactly once, functions keep answering', async () => {
    dumpOnFailure();
    const { env } = cluster();
    const original = await platformImage();
    const repo = original.slice(0, original.lastIndexOf(':'));
    const oldTag = original.slice(original.lastIndexOf(':') + 1);
    const newTag = `e2e-helm-${tag}`;
    // A changed image: the same content under a new tag in the node's containerd.
    const ctr = await sh('ctr', [
      '--address',
      env.SLUICE_CONTAINERD_ADDRESS ?? '',
      '-n',
      'k8s.io',
      'images',
      'tag',
      '--force',
      original,
      `${repo}:${newTag}`,
    ]);
    expect(ctr.code, ctr.out).toBe(0);
    const podsBefore = new Set((await platformPods()).map((p) => p.name));
    // The platform's invoke key: an upgrade keeps it (lookup), or every function pod would refuse the new gateways.
    const invokeKey = async (): Promise<string | undefined> =>
      (await cluster().core.readNamespacedSecret({ namespace: SYSTEM_NS, name: 'sluice-invoke-key' })).data
        ?.key;
    const keyBefore = await invokeKey();
    expect(keyBefore).toBeTruthy();

    const ok = (): InvocationRecord[] =>
      (collector?.of(okSubject) ?? []).filter((r) => ((r.requestPayload as { id?: number }).id ?? -1) >= 0);
    const accepted = new Map<number, string>();
    const refused: string[] = [];
    let next = 0;
    let upgrading = true;
    const sendBatch = async (n: number): Promise<void> => {
      await Promise.all(
        Array.from({ length: n }, () => next++).map(async (id) => {
          try {
            accepted.set(id, await sendEvent({ id }));
          } catch (err) {
            refused.push(`${id}: ${(err as Error).message}`);
          }
        }),
      );
    };
    // 150 events up front (a backlog of ~2 s of work per pod), then a trickle during the rollout.
    for (let i = 0; i < 150; i += 25) await sendBatch(25);
    const trickle = (async () => {
      while (upgrading) {
        await sendBatch(5);
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    const t0 = Date.now();
    const doneAtStart = ok().length;
    const up = await upgradeImageTag(newTag);
    upgrading = false;
    await trickle;
    const upgradeMs = Date.now() - t0;
    const doneAtEnd = ok().length;
    expect(up.code, up.out).toBe(0);
    expect(await platformImage()).toBe(`${repo}:${newTag}`);
    // The platform's pods were replaced (gateway, controller, poller): all live ones run the new tag.
    await waitFor(
      'the platform pods to be replaced',
      async () => {
        const pods = await platformPods();
        const components = new Set(pods.map((p) => p.component));
        return ['sluice-gateway', 'sluice-controller', 'sluice-poller'].every((c) => components.has(c)) &&
          pods.every((p) => !podsBefore.has(p.name) && p.image === `${repo}:${newTag}`)
          ? true
          : undefined;
      },
      60_000,
    );

    // Functions kept running: a sync call on the new gateways, whose invoke key is the same.
    expect(await invokeKey()).toBe(keyBefore);
    expect(await syncCall('after-upgrade')).toEqual({ done: 'after-upgrade' });

    await waitFor(
      `${accepted.size} success records`,
      () =>
        Promise.resolve(
          new Set(ok().map((r) => r.requestContext.requestId)).size >= accepted.size ? true : undefined,
        ),
      90_000,
      1000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; have ${ok().length}`);
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
    const seen = new Map<number, number>();
    for (const r of ok()) {
      const id = (r.requestPayload as { id: number }).id;
      seen.set(id, (seen.get(id) ?? 0) + 1);
      expect(r.requestContext.requestId).toBe(accepted.get(id));
      expect(r.requestContext.condition).toBe('Success');
      expect(r.responsePayload).toEqual({ done: id });
    }
    const duplicates = [...seen.entries()].filter(([, n]) => n > 1);
    console.log(
      `helm upgrade: ${upgradeMs} ms, started with ${doneAtStart} and ended with ${doneAtEnd} events done; ${accepted.size} events accepted (${refused.length} refused while pods rolled), ` +
        `${seen.size} succeeded, ${duplicates.length} duplicated` +
        (refused.length ? `; refused: ${refused.slice(0, 3).join('; ')}` : ''),
    );
    expect(accepted.size).toBeGreaterThanOrEqual(150);
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual([...accepted.keys()].sort((a, b) => a - b));
    expect(duplicates, 'events recorded more than once').toEqual([]);

    // Back to the original image, so the rest runs on the normal install.
    const back = await upgradeImageTag(oldTag);
    expect(back.code, back.out).toBe(0);
    expect(await platformImage()).toBe(original);
    await sh('ctr', [
      '--address',
      env.SLUICE_CONTAINERD_ADDRESS ?? '',
      '-n',
      'k8s.io',
      'images',
      'rm',
      `${repo}:${newTag}`,
    ]);
  });

  it('helm uninstall leaves only the CRDs, the users’ Functions and NATS’s data claim; the platform reinstalls', async () => {
    dumpOnFailure();
    // Everything of the release, by UID (a reinstall makes new objects, never the same UIDs).
    const KINDS =
      'deployments,statefulsets,services,serviceaccounts,configmaps,secrets,roles,rolebindings,poddisruptionbudgets,networkpolicies,clusterroles,clusterrolebindings,validatingadmissionpolicies,validatingadmissionpolicybindings,pods';
    const platformObjects = async (): Promise<Map<string, string>> => {
      const r = await kubectl([
        'get',
        KINDS,
        '-A',
        '-l',
        // Functions' own Deployments and Services (component=function) belong to the users'
        // Functions: they stay with them and go when the Functions are deleted. The NATS
        // identities (component nats-auth: the keys, the server's auth config, the creds; and
        // nats-accounts: namespace → account) are not the release's: they are kept on purpose,
        // checked below; so are namespaces' NATS credentials (nats-credentials) and the invoke key
        // (invoke-key, resource-policy keep) that the functions' tokens come from.
        'app.kubernetes.io/part-of=sluice,app.kubernetes.io/component notin (function,nats-auth,nats-accounts,nats-credentials,invoke-key)',
        '-o',
        'json',
      ]);
      if (r.code !== 0) throw new Error(`kubectl get: ${r.stderr}`);
      const items = (
        JSON.parse(r.stdout) as {
          items: { kind: string; metadata: { name: string; namespace?: string; uid: string } }[];
        }
      ).items;
      return new Map(
        items.map((o) => [o.metadata.uid, `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`]),
      );
    };
    const before = await platformObjects();
    const names = [...before.values()];
    for (const want of [
      `Deployment ${SYSTEM_NS}/sluice-gateway`,
      `Deployment ${SYSTEM_NS}/sluice-controller`,
      `Deployment ${SYSTEM_NS}/sluice-poller`,
      `StatefulSet ${SYSTEM_NS}/sluice-nats`,
      `Service ${SYSTEM_NS}/sluice-gateway`,
      `ServiceAccount ${SYSTEM_NS}/sluice-gateway`,
      `ClusterRole /sluice-controller`,
      `ClusterRoleBinding /sluice-gateway`,
      `Role ${SYSTEM_NS}/sluice-controller-leader-election`,
      `RoleBinding ${SYSTEM_NS}/sluice-gateway-access-keys`,
      `PodDisruptionBudget ${SYSTEM_NS}/sluice-gateway`,
      `ValidatingAdmissionPolicy /sluice-controller-secrets`,
      `ValidatingAdmissionPolicyBinding /sluice-controller-secrets`,
      `ValidatingAdmissionPolicy /sluice-function-peers`,
      `ClusterRole /sluice-tenant-edit`,
      `ValidatingAdmissionPolicy /sluice-function-scaling`,
      `ValidatingAdmissionPolicy /sluice-functionversion-peers`,
    ])
      expect(names).toContain(want);

    const keyBefore = (
      await kubectl(['-n', SYSTEM_NS, 'get', 'secret', 'sluice-invoke-key', '-o', 'jsonpath={.data.key}'])
    ).stdout;
    expect(keyBefore).not.toBe('');
    await closeNats();
    uninstalled = true;
    const un = await helm(['uninstall', 'sluice', '-n', SYSTEM_NS, '--wait', '--timeout', '120s']);
    expect(un.code, un.out).toBe(0);
    // Every object of the release goes (pods may take their grace period to terminate).
    await waitFor(
      'every object of the release to be gone',
      async () => {
        const now = await platformObjects();
        const left = [...before.keys()].filter((uid) => now.has(uid));
        if (left.length) throw new Error(`left: ${left.map((u) => before.get(u)).join(', ')}`);
        return true;
      },
      90_000,
      1000,
    );

    // What users keep: the CRDs, their Functions, and NATS's data claim (StatefulSet volumes).
    const crds = await kubectl(['get', 'crd', '-o', 'name']);
    const sluiceCrds = crds.stdout.split('\n').filter((n) => n.endsWith('.sluice.dev'));
    expect(sluiceCrds.length).toBeGreaterThanOrEqual(1);
    expect(sluiceCrds).toContain('customresourcedefinition.apiextensions.k8s.io/functions.sluice.dev');
    expect((await getFn(ns, 'worker'))?.metadata.name).toBe('worker');
    const claim = await kubectl(['-n', SYSTEM_NS, 'get', 'pvc', 'data-sluice-nats-0', '-o', 'name']);
    expect(claim.stdout.trim(), claim.stderr).toBe('persistentvolumeclaim/data-sluice-nats-0');
    // And the NATS identities that go with that volume's accounts (docs/nats.md "What uninstall keeps").
    const operator = async (): Promise<string> =>
      (
        await kubectl([
          '-n',
          SYSTEM_NS,
          'get',
          'configmap',
          'sluice-nats-auth',
          '-o',
          'jsonpath={.data.operator}',
        ])
      ).stdout;
    const invokeKey = async (): Promise<string> =>
      (await kubectl(['-n', SYSTEM_NS, 'get', 'secret', 'sluice-invoke-key', '-o', 'jsonpath={.data.key}']))
        .stdout;
    const operatorBefore = await operator();
    expect(operatorBefore).toMatch(/^O[A-Z0-9]{55}$/);
    expect(await invokeKey(), 'the invoke key stays (resource-policy keep)').toBe(keyBefore);
    for (const secret of [
      'sluice-nats-keys',
      'sluice-nats-gateway',
      'sluice-nats-poller',
      'sluice-nats-controller',
    ]) {
      const r = await kubectl(['-n', SYSTEM_NS, 'get', 'secret', secret, '-o', 'name']);
      expect(r.stdout.trim(), r.stderr).toBe(`secret/${secret}`);
    }

    // Reinstall: the platform comes back and the same Function answers again.
    const t0 = Date.now();
    await reinstall();
    uninstalled = false;
    console.log(`reinstall after uninstall: ${Date.now() - t0} ms`);
    await waitReady(ns, 'worker');
    await gw?.stop(); // the new Service has a new ClusterIP
    gw = await forwardGateway();
    expect(await syncCall('after-reinstall')).toEqual({ done: 'after-reinstall' });
    // The reinstall found the same keys: the same operator, so the accounts on the volume still count;
    // the same invoke key, so the functions' tokens still hold.
    expect(await operator()).toBe(operatorBefore);
    expect(await invokeKey()).toBe(keyBefore);
  });
});
