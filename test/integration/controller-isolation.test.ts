/**
 * The controller's part in keeping tenants apart, against a real kube-apiserver: which identity a
 * function's pods may use, and (below) what their pods are given. Asserted by the state the
 * reconciler leaves.
 */
import { Writable } from 'node:stream';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1Deployment } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FunctionResource } from '../../api/types.js';
import { createLogger } from '../../lib/log.js';
import { FunctionReconciler } from '../../controller/function/reconcile.js';
import { DEFAULT_BUILD_OPTIONS, type BuildOptions } from '../../controller/function/resources/types.js';
import { makeKube, type Kube } from '../../controller/kube/client.js';
import { startApiServer, type ApiServer } from './support/apiserver.js';

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
