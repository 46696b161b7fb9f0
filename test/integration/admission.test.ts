/**
 * What the API server itself refuses (CRD validation), against a real kube-apiserver: the rules
 * a tenant cannot get around by writing objects directly.
 */
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
  type V1Deployment,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderChart } from '../support/helm.js';
import { until } from '../support/time.js';
import { startApiServer, type ApiServer } from './support/apiserver.js';

const API = 'sluice.dev/v1alpha1';
const NS = 'tenant-a';

let kas: ApiServer;
let objects: KubernetesObjectApi;

beforeAll(async () => {
  kas = await startApiServer();
  const kc = kas.kubeConfig();
  objects = KubernetesObjectApi.makeApiClient(kc);
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
}, 120_000);

afterAll(async () => {
  await kas?.stop();
});

/** The API server's message when it refuses `obj`; undefined when it stores it. */
async function refusal(obj: KubernetesObject): Promise<string | undefined> {
  try {
    await objects.create(obj, undefined, 'All');
    return undefined;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    return String((JSON.parse(String(err.body)) as { message?: string }).message ?? err.body);
  }
}

const fn = (name: string, spec: Record<string, unknown> = {}): KubernetesObject =>
  ({
    apiVersion: API,
    kind: 'Function',
    metadata: { name, namespace: NS },
    spec: { runtime: 'nodejs22', code: { inline: 'exports.handler = async () => 1' }, ...spec },
  }) as KubernetesObject;

describe('Function names (they become Deployment and Service names and label values)', () => {
  it.each([
    { name: '63 characters', value: `f${'x'.repeat(62)}`, refused: false },
    { name: '64 characters', value: `f${'x'.repeat(63)}`, refused: true },
    { name: 'a leading digit', value: '1st', refused: true },
    { name: 'a dot', value: 'a.b', refused: true },
  ])('$name', async ({ value, refused }) => {
    const message = await refusal(fn(value));
    if (!refused) expect(message).toBeUndefined();
    else {
      expect(message).toContain('metadata.name must be a DNS label of at most 63 characters');
    }
  });
});

describe('reserved environment variables', () => {
  it.each([
    { name: "sluice-runtime's own setting", key: 'SLUICE_FUNCTION_NAMESPACE' },
    { name: 'a Lambda runtime variable', key: 'AWS_LAMBDA_FUNCTION_NAME' },
    { name: 'any LAMBDA_ variable', key: 'LAMBDA_RUNTIME_DIR' },
    { name: 'the handler', key: '_HANDLER' },
    { name: 'the trace header', key: '_X_AMZN_TRACE_ID' },
    { name: 'the region', key: 'AWS_REGION' },
  ])('refuses $name, naming it', async ({ key }) => {
    const message = await refusal(
      fn(`env-${key.toLowerCase().replace(/_/g, '-')}`.replace(/-+$/, ''), {
        environment: { OK: '1', [key]: 'x' },
      }),
    );
    expect(message).toContain(`spec.environment.${key} is reserved`);
  });

  it('stores ordinary variables, NODE_OPTIONS included', async () => {
    expect(
      await refusal(
        fn('env-ok', { environment: { NODE_OPTIONS: '--enable-source-maps', TZ: 'Europe/Paris' } }),
      ),
    ).toBeUndefined();
  });
});

describe("the chart's admission policy on private functions' peers", () => {
  const values = [
    'functions.network.clusterCidrs={10.244.0.0/16,10.96.0.0/12,192.168.1.0/24}',
    'functions.network.allowedPeerCidrs={10.96.5.0/24}',
  ];

  beforeAll(async () => {
    for (const o of renderChart(values, { showOnly: ['templates/admission-policies.yaml'] }))
      if (o.metadata?.name?.includes('-peers')) await objects.create(o);
    // In force once it refuses what it forbids.
    await until(
      async () => (await refusal(privateFn('probe', [{ namespace: 'kube-system' }]))) !== undefined,
      'the peers policy to be in force',
      30_000,
      250,
    );
  });

  const privateFn = (name: string, peers: Record<string, unknown>[], mode = 'private'): KubernetesObject =>
    fn(name, { network: { mode, peers } });

  it.each([
    {
      name: 'the platform’s namespace',
      peers: [{ namespace: 'sluice-system', podSelector: { 'app.kubernetes.io/name': 'sluice-nats' } }],
      want: 'spec.network.peers[].namespace: sluice-system is not allowed',
    },
    { name: 'kube-system', peers: [{ namespace: 'kube-system' }], want: 'kube-system is not allowed' },
    {
      name: 'the cloud metadata service',
      peers: [{ cidr: '169.254.169.254/32' }],
      want: 'spec.network.peers[].cidr: 169.254.169.254/32 is not allowed: it overlaps',
    },
    { name: 'everything', peers: [{ cidr: '0.0.0.0/0' }], want: '0.0.0.0/0 is not allowed' },
    { name: 'a node address', peers: [{ cidr: '192.168.1.7/32' }], want: '192.168.1.7/32 is not allowed' },
    { name: 'IPv6 link-local', peers: [{ cidr: 'fe80::1/128' }], want: 'fe80::1/128 is not allowed' },
    {
      name: 'a good peer next to a bad one',
      peers: [{ namespace: 'billing' }, { cidr: '10.0.0.0/8' }],
      want: '10.0.0.0/8 is not allowed',
    },
  ])('refuses $name, naming the field and what the admin may allow', async ({ peers, want }) => {
    const message = await refusal(privateFn('peers-bad', peers));
    expect(message).toContain(want);
    expect(message).toMatch(/functions\.network\.allowedPeer(Namespaces|Cidrs)/);
  });

  it.each([
    {
      name: 'pods of another namespace',
      peers: [{ namespace: 'billing', podSelector: { app: 'pg' }, ports: [5432] }],
    },
    { name: 'an external range', peers: [{ cidr: '203.0.113.0/24' }] },
    { name: 'a range the admin allowed', peers: [{ cidr: '10.96.5.10/32' }] },
  ])('stores $name', async ({ peers }) => {
    expect(await refusal(privateFn('peers-ok', peers))).toBeUndefined();
  });

  it('ignores the peers of a public function (it has none)', async () => {
    expect(
      await refusal(privateFn('peers-public', [{ namespace: 'kube-system' }], 'public')),
    ).toBeUndefined();
  });

  it('checks a FunctionVersion’s snapshot too (tenants may create versions)', async () => {
    const message = await refusal({
      apiVersion: API,
      kind: 'FunctionVersion',
      metadata: { name: 'sneaky-v1', namespace: NS },
      spec: {
        function: 'sneaky',
        version: '1',
        snapshot: {
          runtime: 'nodejs22',
          code: { inline: 'x' },
          network: { mode: 'private', peers: [{ namespace: 'kube-system' }] },
        },
      },
    } as KubernetesObject);
    expect(message).toContain('spec.snapshot.network.peers[].namespace: kube-system is not allowed');
  });
});

describe('peer shape (CRD)', () => {
  it.each([
    { name: 'a cidr that is not one', peer: { cidr: '10.0.0.0/40' }, want: 'must be a CIDR' },
    { name: 'pods and a cidr at once', peer: { cidr: '203.0.113.0/24', namespace: 'db' }, want: 'not both' },
  ])('refuses $name', async ({ peer, want }) => {
    expect(await refusal(fn('peer-shape', { network: { mode: 'private', peers: [peer] } }))).toContain(want);
  });
});

describe("the chart's admission policy on the gateway's and the poller's Deployment writes", () => {
  let apps: (user: string) => AppsV1Api;
  const deployment = (
    name: string,
    labels: Record<string, string>,
    selector: Record<string, string>,
  ): V1Deployment => ({
    metadata: { name, namespace: NS, labels },
    spec: {
      replicas: 0,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: selector },
        spec: { containers: [{ name: 'c', image: 'registry.example/x:1' }] },
      },
    },
  });

  beforeAll(async () => {
    for (const o of renderChart([], { showOnly: ['templates/admission-policies.yaml'] }))
      if (o.metadata?.name?.includes('function-scaling')) await objects.create(o);
    const admin = kas.kubeConfig().makeApiClient(AppsV1Api);
    await admin.createNamespacedDeployment({
      namespace: NS,
      body: deployment(
        'fn-latest',
        { 'app.kubernetes.io/managed-by': 'sluice-controller', 'sluice.dev/function': 'fn' },
        { 'sluice.dev/function': 'fn', 'sluice.dev/version': 'latest' },
      ),
    });
    await admin.createNamespacedDeployment({
      namespace: NS,
      body: deployment('shop-db', { app: 'db' }, { app: 'db' }),
    });
    apps = (user) => {
      const kc = kas.kubeConfig();
      kc.users[0] = { ...kc.users[0]!, impersonateUser: user };
      return kc.makeApiClient(AppsV1Api);
    };
    await until(
      async () => (await denial(scale(apps(GATEWAY), 'shop-db', 1))) !== undefined,
      'the scaling policy to be in force',
      30_000,
      250,
    );
  });

  const GATEWAY = 'system:serviceaccount:sluice-system:sluice-gateway';
  const POLLER = 'system:serviceaccount:sluice-system:sluice-poller';
  const scale = (client: AppsV1Api, name: string, replicas: number): Promise<unknown> =>
    client.patchNamespacedDeploymentScale(
      { namespace: NS, name, body: { spec: { replicas } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  const patch = (client: AppsV1Api, name: string, body: object): Promise<unknown> =>
    client.patchNamespacedDeployment(
      { namespace: NS, name, body },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  /** The API server's message when it refuses; undefined when it accepts. */
  const denial = async (p: Promise<unknown>): Promise<string | undefined> => {
    try {
      await p;
      return undefined;
    } catch (err) {
      if (!(err instanceof ApiException)) throw err;
      return String(err.body);
    }
  };

  it.each([GATEWAY, POLLER])('%s may scale a function’s Deployment', async (user) => {
    expect(await denial(scale(apps(user), 'fn-latest', 1))).toBeUndefined();
  });

  it.each([GATEWAY, POLLER])('%s may not scale any other Deployment', async (user) => {
    expect(await denial(scale(apps(user), 'shop-db', 3))).toContain(
      'the Sluice gateway and poller scale only the Deployments of functions',
    );
  });

  it('the poller may note its decision on a function’s Deployment, and change nothing else there', async () => {
    const poller = apps(POLLER);
    expect(
      await denial(
        patch(poller, 'fn-latest', { metadata: { annotations: { 'sluice.dev/scale-decision': '{}' } } }),
      ),
    ).toBeUndefined();
    expect(
      await denial(
        patch(poller, 'fn-latest', {
          spec: { template: { spec: { containers: [{ name: 'c', image: 'registry.example/evil:1' }] } } },
        }),
      ),
    ).toContain('change nothing but annotations');
    expect(
      await denial(patch(poller, 'fn-latest', { metadata: { labels: { 'sluice.dev/function': 'other' } } })),
    ).toContain('change nothing but annotations');
    expect(await denial(patch(poller, 'shop-db', { metadata: { annotations: { x: 'y' } } }))).toContain(
      'only of one the Sluice controller manages',
    );
  });

  it('applies to the platform’s accounts only: a tenant’s own writes are RBAC’s business', async () => {
    expect(
      await denial(scale(apps('system:serviceaccount:tenant-a:deployer'), 'shop-db', 2)),
    ).toBeUndefined();
  });
});
