/**
 * The controller's reconcilers against a real kube-apiserver (with etcd; no kubelet or
 * controller-manager): they are asserted by the state they leave, not by the calls they make.
 */
import { Writable } from 'node:stream';
import {
  CoreV1Api,
  type V1ConfigMap,
  type V1Deployment,
  type V1NetworkPolicy,
  type V1Service,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AliasResource, FunctionResource, FunctionVersionResource } from '../../api/types.js';
import { createLogger } from '../../lib/log.js';
import { AliasReconciler } from '../../controller/alias/reconcile.js';
import { FunctionReconciler } from '../../controller/function/reconcile.js';
import { listVersions } from '../../controller/function/publish.js';
import { DEFAULT_BUILD_OPTIONS } from '../../controller/function/resources/types.js';
import { makeKube, type Kube } from '../../controller/kube/client.js';
import { LeaderElector } from '../../lib/kube/elector.js';
import { KubeLeaseStore } from '../../lib/kube/leases.js';
import { KubeVersionStore } from '../../gateway/versions/kube-versions.js';
import { ApiServer } from '../support/apiserver.js';
import { budget, sleep, until } from '../support/time.js';

const API = 'sluice.dev/v1alpha1';
const NS = 'shop';
const log = createLogger({
  component: 'test',
  level: 'silent',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

let kas: ApiServer;
let kube: Kube;
let functions: FunctionReconciler;
let aliases: AliasReconciler;

beforeAll(async () => {
  kas = await ApiServer.start();
  const kc = kas.kubeConfig();
  kube = makeKube(kc);
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'sluice-system' } } });
  // A new CRD's storage may answer 429 for a moment after it is served.
  const deadline = Date.now() + budget(30_000);
  for (;;) {
    try {
      for (const kind of ['Function', 'FunctionVersion', 'Alias', 'EventSourceMapping'])
        await kube.list(API, kind, NS);
      await kube.apply(fn('warmup'));
      await kube.delete(API, 'Function', NS, 'warmup');
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
  functions = new FunctionReconciler({ kube, opts: DEFAULT_BUILD_OPTIONS, gatewayUrl: 'http://gw:8080' });
  aliases = new AliasReconciler(kube);
}, budget(120_000));

afterAll(async () => {
  await kas?.stop();
});

const fn = (name: string, spec: Partial<FunctionResource['spec']> = {}): FunctionResource => ({
  apiVersion: API,
  kind: 'Function',
  metadata: { name, namespace: NS },
  spec: { runtime: 'nodejs22', code: { inline: 'exports.handler = async () => 1' }, ...spec },
});
const get = <T extends object>(kind: string, apiVersion: string, name: string): Promise<T | undefined> =>
  kube.get<T & { metadata?: object }>(apiVersion, kind, NS, name);

describe('FunctionReconciler', () => {
  it('creates the workload of $LATEST: code ConfigMap, Deployment at minReplicas, headless Service, NetworkPolicy, status', async () => {
    await kube.apply(fn('hello', { scaling: { minReplicas: 2 }, environment: { A: '1' } }));
    await functions.reconcile(NS, 'hello', log);

    const d = await get<V1Deployment>('Deployment', 'apps/v1', 'hello-latest');
    expect(d?.spec?.replicas).toBe(2);
    expect(d?.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'Function',
      name: 'hello',
      controller: true,
    });
    const cmName = d?.spec?.template.spec?.volumes?.find((v) => v.name === 'code')?.configMap?.name ?? '';
    const cm = await get<V1ConfigMap>('ConfigMap', 'v1', cmName);
    expect(cm?.immutable).toBe(true);
    expect(cm?.data?.code).toBe('exports.handler = async () => 1');
    expect((await get<V1Service>('Service', 'v1', 'hello-latest'))?.spec?.clusterIP).toBe('None');
    expect(
      (await get<V1NetworkPolicy>('NetworkPolicy', 'networking.k8s.io/v1', 'hello-function'))?.spec
        ?.policyTypes,
    ).toEqual(['Ingress', 'Egress']);

    const f = await get<FunctionResource>('Function', API, 'hello');
    expect(f?.status).toMatchObject({
      observedGeneration: 1,
      replicas: 2,
      readyReplicas: 0,
      replicaSummary: '0/2',
      url: 'http://gw:8080/url/shop/hello/',
    });
    expect(f?.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'Deploying',
    });
  });

  it('never fights a scale change, and a second reconcile of an unchanged function writes nothing', async () => {
    await kube.setScale(NS, 'hello-latest', 5);
    const before = await get<FunctionResource>('Function', API, 'hello');
    await functions.reconcile(NS, 'hello', log);
    expect((await get<V1Deployment>('Deployment', 'apps/v1', 'hello-latest'))?.spec?.replicas).toBe(5);
    const after = await get<FunctionResource>('Function', API, 'hello');
    // status.replicas follows the Deployment; nothing else changed, so only that write happened
    expect(after?.status?.replicas).toBe(5);
    await functions.reconcile(NS, 'hello', log);
    const again = await get<FunctionResource>('Function', API, 'hello');
    expect(again?.metadata.resourceVersion).toBe(after?.metadata.resourceVersion);
    expect(before?.metadata.resourceVersion).not.toBe(after?.metadata.resourceVersion);
  });

  it('a code change rolls the Deployment to a new content-hashed ConfigMap and prunes the old one', async () => {
    const old = (
      await get<V1Deployment>('Deployment', 'apps/v1', 'hello-latest')
    )?.spec?.template.spec?.volumes?.find((v) => v.name === 'code')?.configMap?.name;
    await kube.apply(
      fn('hello', {
        scaling: { minReplicas: 2 },
        environment: { A: '1' },
        code: { inline: 'exports.handler = async () => 2' },
      }),
    );
    await functions.reconcile(NS, 'hello', log);
    const d = await get<V1Deployment>('Deployment', 'apps/v1', 'hello-latest');
    const now = d?.spec?.template.spec?.volumes?.find((v) => v.name === 'code')?.configMap?.name;
    expect(now).not.toBe(old);
    expect(await get('ConfigMap', 'v1', old ?? '')).toBeUndefined();
    expect(d?.spec?.replicas).toBe(5);
  });

  it('reports a missing code ConfigMap and execution role in Ready, naming the field', async () => {
    await kube.apply(
      fn('broken', { code: { configMap: { name: 'nope' } }, executionRole: { serviceAccountName: 'ghost' } }),
    );
    await functions.reconcile(NS, 'broken', log);
    const f = await get<FunctionResource>('Function', API, 'broken');
    const ready = f?.status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'CodeConfigMapNotFound' });
    expect(ready?.message).toContain('spec.code.configMap');
  });

  it('autoPublish publishes a version on every change and none when nothing changed', async () => {
    await kube.apply(fn('auto', { versioning: { autoPublish: true } }));
    await functions.reconcile(NS, 'auto', log);
    await functions.reconcile(NS, 'auto', log);
    expect((await listVersions(kube, NS, 'auto')).map((v) => v.spec.version)).toEqual(['1']);
    await kube.apply(fn('auto', { versioning: { autoPublish: true }, memoryMB: 256 }));
    await functions.reconcile(NS, 'auto', log);
    const versions = await listVersions(kube, NS, 'auto');
    expect(versions.map((v) => v.spec.version)).toEqual(['2', '1']);
    expect(versions[0]?.spec.snapshot.memoryMB).toBe(256);
    expect((await get<FunctionResource>('Function', API, 'auto'))?.status?.latestVersion).toBe('2');
  });

  it('runs the versions an alias points to, and removes them when the alias moves away', async () => {
    const alias: AliasResource = {
      apiVersion: API,
      kind: 'Alias',
      metadata: { name: 'live', namespace: NS },
      spec: { function: 'auto', version: '1', additionalVersionWeights: { '2': 0.2 } },
    };
    await kube.apply(alias);
    await functions.reconcile(NS, 'auto', log);
    await aliases.reconcile(NS, 'live', log);
    const names = async (): Promise<string[]> =>
      (await kube.list<V1Deployment>('apps/v1', 'Deployment', NS, 'sluice.dev/function=auto'))
        .map((d) => d.metadata?.name ?? '')
        .sort();
    expect(await names()).toEqual(['auto-latest', 'auto-v1', 'auto-v2']);
    const a = await get<AliasResource>('Alias', API, 'live');
    expect(a?.status).toMatchObject({ resolvedVersion: '1', routing: '1=80%,2=20%' });
    const v1 = await get<FunctionVersionResource>('FunctionVersion', API, 'auto-v1');
    expect(v1?.status?.active).toBe(true);

    await kube.apply({ ...alias, spec: { function: 'auto', version: '2' } });
    await functions.reconcile(NS, 'auto', log);
    expect(await names()).toEqual(['auto-latest', 'auto-v2']);
    expect((await get<FunctionVersionResource>('FunctionVersion', API, 'auto-v1'))?.status?.active).toBe(
      false,
    );

    await kube.apply({
      ...alias,
      metadata: { name: 'dangling', namespace: NS },
      spec: { function: 'auto', version: '9' },
    });
    await aliases.reconcile(NS, 'dangling', log);
    expect((await get<AliasResource>('Alias', API, 'dangling'))?.status?.conditions?.[0]).toMatchObject({
      status: 'False',
      reason: 'VersionNotFound',
    });
  });
});

describe('FunctionVersions of a function', () => {
  it('are selected by the sluice.dev/function label; legacy unlabelled ones are found by spec.function and labelled', async () => {
    await kube.apply(fn('legacy'));
    const version = (n: string, labels?: Record<string, string>): FunctionVersionResource => ({
      apiVersion: API,
      kind: 'FunctionVersion',
      metadata: { name: `legacy-v${n}`, namespace: NS, ...(labels ? { labels } : {}) },
      spec: {
        function: 'legacy',
        version: n,
        snapshot: { runtime: 'nodejs22', code: { inline: `exports.handler = async () => ${n}` } },
      },
    });
    await kube.create(version('1'));
    await kube.create(version('2', { 'sluice.dev/function': 'legacy' }));
    // Another function's version is neither found nor labelled.
    await kube.create({
      ...version('1'),
      metadata: { name: 'other-v1', namespace: NS },
      spec: { ...version('1').spec, function: 'other' },
    });
    const gatewayView = new KubeVersionStore(kas.kubeConfig());
    expect((await gatewayView.list(NS, 'legacy')).map((v) => v.spec.version).sort()).toEqual(['1', '2']);
    expect((await listVersions(kube, NS, 'legacy')).map((v) => v.spec.version)).toEqual(['2', '1']);
    const v1 = await get<FunctionVersionResource>('FunctionVersion', API, 'legacy-v1');
    expect(v1?.metadata.labels?.['sluice.dev/function']).toBe('legacy');
    const other = await get<FunctionVersionResource>('FunctionVersion', API, 'other-v1');
    expect(other?.metadata.labels?.['sluice.dev/function']).toBeUndefined();
    const labelled = await kube.list<FunctionVersionResource>(
      API,
      'FunctionVersion',
      NS,
      'sluice.dev/function=legacy',
    );
    expect(labelled.map((v) => v.spec.version).sort()).toEqual(['1', '2']);
  });
});

describe('LeaderElector', () => {
  it('lets one replica lead at a time and hands over when the leader releases the lease', async () => {
    const kc = kas.kubeConfig();
    // The lease outlives any stall of a loaded machine (the test never waits for it to expire:
    // the leader releases it, and the successor takes over at its next attempt).
    const leases = new KubeLeaseStore(kc, 'sluice-system', 'sluice-controller');
    const opts = { leases, name: 'sluice-controller', leaseSeconds: 15, renewSeconds: 1, log };
    const a = new LeaderElector({ ...opts, identity: 'a' });
    const b = new LeaderElector({ ...opts, identity: 'b' });
    const events: string[] = [];
    try {
      a.start(
        () => events.push('a leads'),
        () => events.push('a lost'),
      );
      await until(() => a.isLeader, 'a to lead');
      b.start(
        () => events.push('b leads'),
        () => events.push('b lost'),
      );
      // b does not take over a lease a keeps renewing: a renews it after b started, and b tries
      // again after that renewal (its second attempt from then on began after it).
      const renewed = a.attempts.held;
      await until(() => a.attempts.held > renewed, 'a to renew the lease after b started');
      const tried = b.attempts.total;
      await until(() => b.attempts.total >= tried + 2, 'b to try again after that renewal');
      expect(events).toEqual(['a leads']);
      expect(a.isLeader && !b.isLeader).toBe(true);
      expect(b.attempts.held).toBe(0);
      // stop() may land during an attempt: it waits for that renewal and then releases the lease,
      // and `a` never leads again beside `b`.
      await a.stop();
      expect(a.isLeader).toBe(false);
      await until(() => b.isLeader, 'b to take over the released lease', 10_000);
      expect(events).toEqual(['a leads', 'b leads']);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
