/**
 * Tenants manage their own functions, on a real kube-apiserver with RBAC and Kubernetes' own role
 * aggregation (kube-controller-manager's controller): the chart's ClusterRoles give admin, edit
 * and view in a namespace the matching rights on Sluice's kinds there, and nowhere else.
 */
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  RbacAuthorizationV1Api,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderChart } from '../support/helm.js';
import { until } from '../support/time.js';
import { startApiServer, startRoleAggregation, type ApiServer } from './support/apiserver.js';

const API = 'sluice.dev/v1alpha1';
type Obj = KubernetesObject & { metadata: { name: string; namespace: string } };
let kas: ApiServer;
let stopAggregation: () => Promise<void> = () => Promise.resolve();

/** A client acting as `user` (impersonation by the admin token). */
function as(user: string): KubernetesObjectApi {
  const kc = kas.kubeConfig();
  kc.users[0] = { ...kc.users[0]!, impersonateUser: user };
  return KubernetesObjectApi.makeApiClient(kc);
}

const fn = (ns: string, name: string): Obj =>
  ({
    apiVersion: API,
    kind: 'Function',
    metadata: { name, namespace: ns },
    spec: { runtime: 'nodejs22', code: { inline: 'exports.handler = async () => 1' } },
  }) as Obj;
const version = (ns: string): Obj =>
  ({
    apiVersion: API,
    kind: 'FunctionVersion',
    metadata: { name: 'hello-v1', namespace: ns },
    spec: { function: 'hello', version: '1', snapshot: { runtime: 'nodejs22', code: { inline: 'x' } } },
  }) as Obj;
const alias = (ns: string): Obj =>
  ({
    apiVersion: API,
    kind: 'Alias',
    metadata: { name: 'prod', namespace: ns },
    spec: { function: 'hello', version: '1' },
  }) as Obj;
const mapping = (ns: string): Obj =>
  ({
    apiVersion: API,
    kind: 'EventSourceMapping',
    metadata: { name: 'tick', namespace: ns },
    spec: { function: 'hello', source: { schedule: { expression: 'rate(5 minutes)' } } },
  }) as Obj;

/** The HTTP status the API server answered (201/200), or its refusal's. */
async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

beforeAll(async () => {
  kas = await startApiServer({ authorizationMode: 'RBAC' });
  stopAggregation = startRoleAggregation(kas);
  const kc = kas.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const admin = KubernetesObjectApi.makeApiClient(kc);
  for (const ns of ['tenant-a', 'tenant-b']) await core.createNamespace({ body: { metadata: { name: ns } } });
  for (const o of renderChart([], { showOnly: ['templates/tenant-rbac.yaml'] })) await admin.create(o);
  for (const [user, role] of [
    ['alice', 'edit'],
    ['olga', 'admin'],
    ['victor', 'view'],
  ] as const) {
    await rbac.createNamespacedRoleBinding({
      namespace: 'tenant-a',
      body: {
        metadata: { name: `${user}-${role}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
      },
    });
  }
  // Aggregated once view (the last in the chain admin ⊃ edit ⊃ view) lets victor read functions.
  await until(
    async () =>
      (await status(as('victor').list(API, 'Function', 'tenant-a'))) === 200 &&
      (await status(as('alice').create(fn('tenant-a', 'probe'), undefined, 'All'))) === 200,
    'the aggregated roles to include Sluice’s kinds',
    60_000,
    250,
  );
  await admin.create(fn('tenant-b', 'other'));
}, 120_000);

afterAll(async () => {
  await stopAggregation();
  await kas?.stop();
});

describe('edit in a namespace', () => {
  it.each([
    { name: 'a Function', obj: fn('tenant-a', 'hello') },
    { name: 'a FunctionVersion', obj: version('tenant-a') },
    { name: 'an Alias', obj: alias('tenant-a') },
    { name: 'an EventSourceMapping', obj: mapping('tenant-a') },
  ])('may create $name there', async ({ obj }) => {
    expect(await status(as('alice').create(obj))).toBe(200);
  });

  it('may change and delete them there', async () => {
    const alice = as('alice');
    const mine = await alice.read(fn('tenant-a', 'hello'));
    expect(
      await status(alice.replace({ ...mine, metadata: { ...mine.metadata, labels: { team: 'a' } } })),
    ).toBe(200);
    expect(await status(alice.delete(alias('tenant-a')))).toBe(200);
  });

  it.each([
    { name: 'create a Function', call: () => as('alice').create(fn('tenant-b', 'intruder')) },
    { name: 'read a Function', call: () => as('alice').read(fn('tenant-b', 'other')) },
    { name: 'list Functions', call: () => as('alice').list(API, 'Function', 'tenant-b') },
    { name: 'delete a Function', call: () => as('alice').delete(fn('tenant-b', 'other')) },
    { name: 'create an EventSourceMapping', call: () => as('alice').create(mapping('tenant-b')) },
  ])('may not $name in another namespace', async ({ call }) => {
    expect(await status(call())).toBe(403);
  });

  it('may not write status (the controller’s)', async () => {
    const alice = as('alice');
    const f = await alice.read(fn('tenant-a', 'hello'));
    const kc = kas.kubeConfig();
    kc.users[0] = { ...kc.users[0]!, impersonateUser: 'alice' };
    const custom = kc.makeApiClient(CustomObjectsApi);
    const r = await status(
      custom.replaceNamespacedCustomObjectStatus({
        group: 'sluice.dev',
        version: 'v1alpha1',
        namespace: 'tenant-a',
        plural: 'functions',
        name: 'hello',
        body: { ...f, status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Forged' }] } },
      }),
    );
    expect(r).toBe(403);
  });
});

describe('admin in a namespace', () => {
  it('may do what edit may', async () => {
    expect(await status(as('olga').create(fn('tenant-a', 'by-admin')))).toBe(200);
    expect(await status(as('olga').create(fn('tenant-b', 'by-admin')))).toBe(403);
  });
});

describe('view in a namespace', () => {
  it('may read Sluice’s kinds there', async () => {
    expect(await status(as('victor').read(fn('tenant-a', 'hello')))).toBe(200);
    expect(await status(as('victor').list(API, 'EventSourceMapping', 'tenant-a'))).toBe(200);
  });

  it.each([
    { name: 'create', call: () => as('victor').create(fn('tenant-a', 'by-viewer')) },
    { name: 'delete', call: () => as('victor').delete(mapping('tenant-a')) },
    { name: 'read in another namespace', call: () => as('victor').read(fn('tenant-b', 'other')) },
  ])('may not $name', async ({ call }) => {
    expect(await status(call())).toBe(403);
  });
});
