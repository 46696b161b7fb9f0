/**
 * The controller's part in keeping tenants apart, against a real kube-apiserver: which identity a
 * function's pods may use, and (below) what their pods are given. Asserted by the state the
 * reconciler leaves.
 */
import { Writable } from 'node:stream';
import {
  ApiException,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
  type V1NetworkPolicy,
  type V1Secret,
} from '@kubernetes/client-node';
import { invokeToken } from '../../api/invoke-token.js';
import { renderChart } from '../support/helm.js';
import { until } from '../support/time.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FunctionResource } from '../../api/types.js';
import { createLogger } from '../../lib/log.js';
import { FunctionReconciler } from '../../controller/function/reconcile.js';
import { DEFAULT_BUILD_OPTIONS, type BuildOptions } from '../../controller/function/resources/types.js';
import { makeKube, type Kube } from '../../controller/kube/client.js';
import { startApiServer, type ApiServer } from './support/apiserver.js';
import { makeTenantSecret } from '../../controller/natsaccount/resources/secret.js';

const API = 'sluice.dev/v1alpha1';
const NS = 'tenant-a';
const log = createLogger({
  component: 'test',
  level: 'silent',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

let kas: ApiServer;
let kube: Kube;
let core: CoreV1Api;

const reconciler = (opts: Partial<BuildOptions> = {}): FunctionReconciler =>
  new FunctionReconciler({ kube, opts: { ...DEFAULT_BUILD_OPTIONS, ...opts }, gatewayUrl: 'http://gw:8080' });

beforeAll(async () => {
  kas = await startApiServer();
  const kc = kas.kubeConfig();
  kube = makeKube(kc);
  core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
}, 120_000);

afterAll(async () => {
  await kas?.stop();
});

const fn = (name: string, spec: Partial<FunctionResource['spec']> = {}): FunctionResource => ({
  apiVersion: API,
  kind: 'Function',
  metadata: { name, namespace: NS },
  spec: { runtime: 'nodejs22', code: { inline: 'exports.handler = async () => 1' }, ...spec },
});
const ready = async (
  name: string,
): Promise<{ status?: string; reason?: string; message?: string } | undefined> =>
  (await kube.get<FunctionResource>(API, 'Function', NS, name))?.status?.conditions?.find(
    (c) => c.type === 'Ready',
  );
const deployment = (name: string): Promise<V1Deployment | undefined> =>
  kube.get<V1Deployment>('apps/v1', 'Deployment', NS, `${name}-latest`);

describe('execution roles', () => {
  it('runs no pod as a ServiceAccount until it opts in, and stops them when it opts out', async () => {
    const functions = reconciler();
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'admin-ish' } } });
    await kube.apply(fn('borrower', { executionRole: { serviceAccountName: 'admin-ish' } }));
    await functions.reconcile(NS, 'borrower', log);

    expect(await deployment('borrower')).toBeUndefined();
    const refused = await ready('borrower');
    expect(refused).toMatchObject({ status: 'False', reason: 'ExecutionRoleNotAllowed' });
    expect(refused?.message).toContain('ServiceAccount tenant-a/admin-ish');
    expect(refused?.message).toContain('sluice.dev/execution-role="true"');
    const events = await core.listNamespacedEvent({ namespace: NS });
    expect(events.items.map((e) => [e.involvedObject.name, e.reason])).toContainEqual([
      'borrower',
      'ExecutionRoleNotAllowed',
    ]);

    await core.patchNamespacedServiceAccount(
      {
        namespace: NS,
        name: 'admin-ish',
        body: { metadata: { annotations: { 'sluice.dev/execution-role': 'true' } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await functions.reconcile(NS, 'borrower', log);
    const d = await deployment('borrower');
    expect(d?.spec?.template.spec?.serviceAccountName).toBe('admin-ish');
    expect(d?.spec?.template.spec?.automountServiceAccountToken).toBe(true);
    expect((await ready('borrower'))?.reason).not.toBe('ExecutionRoleNotAllowed');

    await core.patchNamespacedServiceAccount(
      {
        namespace: NS,
        name: 'admin-ish',
        body: { metadata: { annotations: { 'sluice.dev/execution-role': null } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await functions.reconcile(NS, 'borrower', log);
    expect(await deployment('borrower')).toBeUndefined();
    expect(await ready('borrower')).toMatchObject({ status: 'False', reason: 'ExecutionRoleNotAllowed' });
  });

  it('a function without an execution role runs as the default account without a token', async () => {
    await kube.apply(fn('plain'));
    await reconciler().reconcile(NS, 'plain', log);
    const pod = (await deployment('plain'))?.spec?.template.spec;
    expect(pod?.serviceAccountName).toBe('default');
    expect(pod?.automountServiceAccountToken).toBe(false);
  });
});

describe('invoke tokens', () => {
  const key = Buffer.from('k'.repeat(64));

  it('gives each function its own token in a Secret it owns, mounted into sluice-runtime only', async () => {
    const functions = reconciler({ invokeKey: key });
    await kube.apply(fn('tokened'));
    await kube.apply(fn('custom', { runtime: 'provided', code: { image: 'registry.example/custom:1' } }));
    await functions.reconcile(NS, 'tokened', log);
    await functions.reconcile(NS, 'custom', log);

    for (const name of ['tokened', 'custom']) {
      const secret = await kube.get<V1Secret>('v1', 'Secret', NS, `sluice-invoke-${name}`);
      expect(Buffer.from(secret?.data?.token ?? '', 'base64').toString()).toBe(invokeToken(key, NS, name));
      expect(secret?.metadata?.ownerReferences?.[0]).toMatchObject({
        kind: 'Function',
        name,
        controller: true,
      });
    }
    const mountedIn = (d: V1Deployment | undefined): string[] =>
      [...(d?.spec?.template.spec?.initContainers ?? []), ...(d?.spec?.template.spec?.containers ?? [])]
        .filter((c) => c.volumeMounts?.some((m) => m.name === 'invoke-token'))
        .map((c) => c.name);
    expect(mountedIn(await deployment('tokened'))).toEqual(['function']);
    // A custom runtime is the tenant's own process: only the sluice-runtime sidecar holds the token.
    expect(mountedIn(await deployment('custom'))).toEqual(['sluice-runtime']);
    const volume = (await deployment('custom'))?.spec?.template.spec?.volumes?.find(
      (v) => v.name === 'invoke-token',
    );
    expect(volume?.secret?.secretName).toBe('sluice-invoke-custom');

    // Unchanged: a second reconcile rewrites nothing.
    const before = (await kube.get<V1Secret>('v1', 'Secret', NS, 'sluice-invoke-tokened'))?.metadata
      ?.resourceVersion;
    await functions.reconcile(NS, 'tokened', log);
    expect(
      (await kube.get<V1Secret>('v1', 'Secret', NS, 'sluice-invoke-tokened'))?.metadata?.resourceVersion,
    ).toBe(before);
  });

  it("accepts calls only from the platform's gateway pods, in the platform's namespace", async () => {
    await kube.apply(fn('guarded'));
    await reconciler({ platformNamespace: 'sluice-platform' }).reconcile(NS, 'guarded', log);
    const np = await kube.get<V1NetworkPolicy>(
      'networking.k8s.io/v1',
      'NetworkPolicy',
      NS,
      'guarded-function',
    );
    const invoke = np?.spec?.ingress?.find((r) => r.ports?.some((p) => p.port === 8080));
    expect(invoke?._from).toEqual([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'sluice-platform' } },
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'sluice-gateway' } },
      },
    ]);
  });
});

describe("the chart's admission policy on the controller's Secret writes", () => {
  const key = Buffer.from('k'.repeat(64));
  let asController: Kube;

  beforeAll(async () => {
    const objects = KubernetesObjectApi.makeApiClient(kas.kubeConfig());
    for (const o of renderChart([], { showOnly: ['templates/admission-policies.yaml'] })) {
      if (o.kind?.startsWith('ValidatingAdmissionPolicy') && o.metadata?.name?.includes('controller-secrets'))
        await objects.create(o);
    }
    const kc = kas.kubeConfig();
    kc.users[0] = {
      ...kc.users[0]!,
      impersonateUser: 'system:serviceaccount:sluice-system:sluice-controller',
    };
    asController = makeKube(kc);
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: 'sluice-invoke-victim' }, stringData: { password: 'hunter2' } },
    });
    // The policy is in force once the API server refuses what it forbids.
    await until(
      async () =>
        asController
          .apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'probe', namespace: NS }, data: {} })
          .then(
            () => false,
            () => true,
          ),
      'the ValidatingAdmissionPolicy to be in force',
      30_000,
      250,
    );
  });

  it('lets the controller write invoke-token Secrets', async () => {
    await kube.apply(fn('admitted'));
    await new FunctionReconciler({
      kube: asController,
      opts: { ...DEFAULT_BUILD_OPTIONS, invokeKey: key },
      gatewayUrl: 'http://gw:8080',
    }).reconcile(NS, 'admitted', log);
    expect(await kube.get('v1', 'Secret', NS, 'sluice-invoke-admitted')).toBeDefined();
  });

  it("lets the controller write a namespace's NATS credentials (Secret sluice-nats)", async () => {
    await asController.apply(makeTenantSecret(NS, 'nats://sluice-nats.sluice-system.svc:4222', 'creds file'));
    const s = await kube.get<V1Secret>('v1', 'Secret', NS, 'sluice-nats');
    expect(Object.keys(s?.data ?? {}).sort()).toEqual(['creds', 'url']);
  });

  it('reports a token Secret it may not write in Ready, and leaves the Secret as it is', async () => {
    await kube.apply(fn('victim'));
    await new FunctionReconciler({
      kube: asController,
      opts: { ...DEFAULT_BUILD_OPTIONS, invokeKey: key },
      gatewayUrl: 'http://gw:8080',
    }).reconcile(NS, 'victim', log);
    const r = await ready('victim');
    expect(r).toMatchObject({ status: 'False', reason: 'InvokeTokenNotWritable' });
    expect(r?.message).toContain('Secret tenant-a/sluice-invoke-victim');
    const victim = await kube.get<V1Secret>('v1', 'Secret', NS, 'sluice-invoke-victim');
    expect(Object.keys(victim?.data ?? {})).toEqual(['password']);
  });

  it.each([
    {
      name: 'any other Secret',
      secret: { metadata: { name: 'db-password', namespace: NS }, data: { token: 'eA==' } },
      message: 'writes only invoke-token Secrets',
    },
    {
      name: 'a Secret of its name the controller did not create',
      secret: {
        metadata: {
          name: 'sluice-invoke-victim',
          namespace: NS,
          labels: {
            'app.kubernetes.io/managed-by': 'sluice-controller',
            'app.kubernetes.io/component': 'invoke-token',
          },
        },
        data: { token: 'eA==' },
      },
      message: 'an invoke-token Secret holds one key, token',
    },
    {
      name: 'a NATS credentials Secret with more than url and creds',
      secret: {
        ...makeTenantSecret(NS, 'nats://x:4222', 'c'),
        stringData: { url: 'nats://x:4222', creds: 'c', password: 'hunter2' },
      },
      message: 'a NATS credentials Secret holds two keys, url and creds',
    },
    {
      name: 'a NATS credentials Secret under another name',
      secret: {
        ...makeTenantSecret(NS, 'nats://x:4222', 'c'),
        metadata: { ...makeTenantSecret(NS, 'u', 'c').metadata, name: 'db-password' },
      },
      message: 'writes only invoke-token Secrets',
    },
  ])('refuses the controller $name', async ({ secret, message }) => {
    const err = await asController
      .apply({ apiVersion: 'v1', kind: 'Secret', ...secret })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiException);
    expect(String((err as ApiException<unknown>).body)).toContain(message);
    const victim = await kube.get<V1Secret>('v1', 'Secret', NS, 'sluice-invoke-victim');
    expect(Object.keys(victim?.data ?? {})).toEqual(['password']);
  });
});

describe('private peers', () => {
  it('runs no pod of a function whose peers name what the platform does not allow, and leaves them out of its policy', async () => {
    await kube.apply(
      fn('snoop', {
        network: {
          mode: 'private',
          peers: [
            { namespace: 'billing', ports: [5432] },
            { namespace: 'kube-system' },
            { cidr: '169.254.169.254/32' },
          ],
        },
      }),
    );
    await reconciler().reconcile(NS, 'snoop', log);
    expect(await deployment('snoop')).toBeUndefined();
    const r = await ready('snoop');
    expect(r).toMatchObject({ status: 'False', reason: 'PeerNotAllowed' });
    expect(r?.message).toContain('spec.network.peers[1]: namespace kube-system is not allowed');
    expect(r?.message).toContain('spec.network.peers[2]: cidr 169.254.169.254/32 overlaps 169.254.0.0/16');
    const np = await kube.get<V1NetworkPolicy>('networking.k8s.io/v1', 'NetworkPolicy', NS, 'snoop-function');
    expect(np?.spec?.egress).toHaveLength(3); // DNS, the gateway, billing
    const peers = JSON.stringify(np?.spec?.egress ?? []);
    expect(peers).toContain('billing');
    expect(peers).not.toContain('kube-system"}},"podSelector":{"matchLabels":{}}');
    expect(peers).not.toContain('169.254.169.254');

    // Fixed: the pods run.
    await kube.apply(
      fn('snoop', { network: { mode: 'private', peers: [{ namespace: 'billing', ports: [5432] }] } }),
    );
    await reconciler().reconcile(NS, 'snoop', log);
    expect(await deployment('snoop')).toBeDefined();
    expect((await ready('snoop'))?.reason).not.toBe('PeerNotAllowed');
  });
});
