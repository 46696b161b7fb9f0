import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { RetentionPolicy } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventSourceMappingResource } from '../../api/types.js';
import { emptyState } from '../../poller/autoscaler/decide.js';
import { KubeLeaseStore } from '../../lib/kube/leases.js';
import { KubeScaleTarget } from '../../poller/kube-scale-target.js';
import { KubeWorld } from '../../poller/kube-world.js';
import { ESM_FINALIZER } from '../../poller/mapping.js';
import { SOURCES } from '../../poller/sources/index.js';
import { ApiServer } from '../support/apiserver.js';
import { FakeInvoker } from '../support/poller/fake-invoker.js';
import { makeKit, type Kit } from '../support/poller/kit.js';
import { budget, until } from '../support/time.js';
import { acquireOrRenew, LeaseConflictError, release } from '../../lib/kube/leases.js';
import { MappingManager } from '../../poller/work/manager.js';
import { NatsServer } from './support/nats.js';

// The poller's Kubernetes side against a real kube-apiserver (with etcd): Leases, mapping status,
// the finalizer, the scale subresource. No nodes or controllers are needed for any of it.

let kas: ApiServer;
let nats: NatsServer;
let kit: Kit;
let custom: CustomObjectsApi;
let core: CoreV1Api;
let apps: AppsV1Api;
const G = { group: 'sluice.dev', version: 'v1alpha1' };

beforeAll(async () => {
  [kas, nats] = await Promise.all([ApiServer.start(), NatsServer.start()]);
  kit = await makeKit(nats);
  const kc = kas.kubeConfig();
  custom = kc.makeApiClient(CustomObjectsApi);
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  for (const name of ['shop', 'sluice-system']) await core.createNamespace({ body: { metadata: { name } } });
}, budget(120_000));

afterAll(async () => {
  await kit?.close();
  await nats?.cleanup();
  await kas?.stop();
});

const getEsm = async (name: string): Promise<EventSourceMappingResource | undefined> => {
  try {
    return (await custom.getNamespacedCustomObject({
      ...G,
      plural: 'eventsourcemappings',
      namespace: 'shop',
      name,
    })) as EventSourceMappingResource;
  } catch {
    return undefined;
  }
};

/** Waits of up to 15 s (scaled) each, one after another. */
const TEST_TIMEOUT = budget(60_000);

describe('Kubernetes side', { timeout: TEST_TIMEOUT }, () => {
  it('Leases: one holder at a time, takeover after expiry, optimistic concurrency', async () => {
    const store = new KubeLeaseStore(kas.kubeConfig(), 'sluice-system', 'sluice-poller');
    const now = Date.now();
    expect(await acquireOrRenew(store, 'sluice-esm-x', 'mapping', 'a', 5, now)).toBe(true);
    expect(await acquireOrRenew(store, 'sluice-esm-x', 'mapping', 'b', 5, now + 1000)).toBe(false);
    expect(await acquireOrRenew(store, 'sluice-esm-x', 'mapping', 'a', 5, now + 2000)).toBe(true);
    expect(await acquireOrRenew(store, 'sluice-esm-x', 'mapping', 'b', 5, now + 8000)).toBe(true);
    const lease = await store.get('sluice-esm-x');
    expect(lease).toMatchObject({ holder: 'b', transitions: 1, kind: 'mapping', durationSeconds: 5 });
    await expect(store.update({ ...lease!, version: '1' })).rejects.toBeInstanceOf(LeaseConflictError);
    await release(store, 'sluice-esm-x', 'b');
    expect((await store.get('sluice-esm-x'))?.holder).toBeUndefined();
    expect((await store.list('mapping')).map((l) => l.name)).toEqual(['sluice-esm-x']);
    await store.delete('sluice-esm-x');
    expect(await store.get('sluice-esm-x')).toBeUndefined();
  });

  it('a mapping: finalizer and status, disable, invalid spec, deletion removes its consumer', async () => {
    await kit.jsm.streams.add({
      name: 'KORDERS',
      subjects: ['korders.>'],
      retention: RetentionPolicy.Workqueue,
    });
    const world = new KubeWorld(kas.kubeConfig(), kit.log);
    await world.start();
    const invoker = new FakeInvoker();
    const manager = new MappingManager({
      identity: 'poller-a',
      leases: new KubeLeaseStore(kas.kubeConfig(), 'sluice-system', 'sluice-poller'),
      api: world,
      sources: SOURCES,
      sourceDeps: (report) => ({ ...kit.deps(invoker), report }),
      metrics: kit.metrics,
      log: kit.log,
      leaseSeconds: 5,
      renewSeconds: 1,
    });
    world.onMappingChange(() => manager.nudge());
    manager.start();
    try {
      await custom.createNamespacedCustomObject({
        ...G,
        plural: 'eventsourcemappings',
        namespace: 'shop',
        body: {
          apiVersion: 'sluice.dev/v1alpha1',
          kind: 'EventSourceMapping',
          metadata: { name: 'orders' },
          spec: { function: 'orders', source: { natsQueue: { stream: 'KORDERS' } }, batchSize: 5 },
        },
      });
      await until(async () => (await getEsm('orders'))?.status?.state === 'Enabled', 'state Enabled');
      const esm = await getEsm('orders');
      expect(esm?.metadata.finalizers).toEqual([ESM_FINALIZER]);
      expect(esm?.status).toMatchObject({ owner: 'poller-a', observedGeneration: 1 });
      expect(esm?.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect((await kit.jsm.consumers.info('KORDERS', 'sluice-esm-shop-orders')).config.durable_name).toBe(
        'sluice-esm-shop-orders',
      );

      await kit.js.publish('korders.new', '{"id":1}');
      await until(() => invoker.calls.length === 1, 'the record delivered');
      await until(
        async () => (await getEsm('orders'))?.status?.lastProcessingResult === 'OK',
        'lastProcessingResult OK',
      );

      const patch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
      await custom.patchNamespacedCustomObject(
        {
          ...G,
          plural: 'eventsourcemappings',
          namespace: 'shop',
          name: 'orders',
          body: { spec: { enabled: false } },
        },
        patch,
      );
      await until(async () => (await getEsm('orders'))?.status?.state === 'Disabled', 'state Disabled');
      await kit.js.publish('korders.new', '{"id":2}');
      // Nothing can take it now: the mapping runs nowhere, and its consumer holds the record
      // undelivered, with no pull request open and nothing handed out.
      await until(async () => {
        const ci = await kit.jsm.consumers.info('KORDERS', 'sluice-esm-shop-orders');
        return (
          manager.owned.length === 0 &&
          ci.num_pending === 1 &&
          ci.num_ack_pending === 0 &&
          ci.num_waiting === 0
        );
      }, 'the record waiting with no source running');
      expect(invoker.calls).toHaveLength(1);

      await custom.patchNamespacedCustomObject(
        {
          ...G,
          plural: 'eventsourcemappings',
          namespace: 'shop',
          name: 'orders',
          body: { spec: { enabled: true, filterCriteria: { filters: [{ pattern: '{not json' }] } } },
        },
        patch,
      );
      await until(async () => (await getEsm('orders'))?.status?.state === 'Failed', 'state Failed');
      expect((await getEsm('orders'))?.status?.conditions?.[0]).toMatchObject({
        status: 'False',
        reason: 'InvalidSpec',
      });

      await custom.patchNamespacedCustomObject(
        {
          ...G,
          plural: 'eventsourcemappings',
          namespace: 'shop',
          name: 'orders',
          body: { spec: { filterCriteria: null } },
        },
        patch,
      );
      await until(() => invoker.calls.length === 2, 'the held record delivered after re-enabling');

      await custom.deleteNamespacedCustomObject({
        ...G,
        plural: 'eventsourcemappings',
        namespace: 'shop',
        name: 'orders',
      });
      await until(async () => (await getEsm('orders')) === undefined, 'the mapping gone (finalizer removed)');
      await expect(kit.jsm.consumers.info('KORDERS', 'sluice-esm-shop-orders')).rejects.toThrow(/not found/i);
      expect(manager.owned).toEqual([]);
    } finally {
      await manager.stop();
      await world.stop();
    }
  });

  it('workloads from Functions and Deployments; the scale subresource and the decision annotation', async () => {
    await custom.createNamespacedCustomObject({
      ...G,
      plural: 'functions',
      namespace: 'shop',
      body: {
        apiVersion: 'sluice.dev/v1alpha1',
        kind: 'Function',
        metadata: { name: 'resize' },
        spec: {
          runtime: 'nodejs22',
          handler: 'index.handler',
          code: { inline: 'exports.handler = async () => 1' },
          scaling: { maxReplicas: 7, concurrencyPerPod: 2, scaleToZeroAfterSeconds: 30 },
          concurrency: { reserved: 10 },
        },
      },
    });
    const labels = {
      'sluice.dev/function': 'resize',
      'sluice.dev/version': 'latest',
      'app.kubernetes.io/component': 'function',
      'app.kubernetes.io/managed-by': 'sluice-controller',
    };
    await apps.createNamespacedDeployment({
      namespace: 'shop',
      body: {
        metadata: { name: 'resize-latest', labels },
        spec: {
          replicas: 0,
          selector: { matchLabels: { 'sluice.dev/function': 'resize', 'sluice.dev/version': 'latest' } },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: 'runtime', image: 'localhost/sluice/runtime-nodejs22:dev' }] },
          },
        },
      },
    });
    const world = new KubeWorld(kas.kubeConfig(), kit.log);
    await world.start();
    try {
      await until(() => world.workloads().length === 1, 'the workload');
      const [w] = world.workloads();
      expect(w).toMatchObject({
        namespace: 'shop',
        function: 'resize',
        version: '$LATEST',
        deployment: 'resize-latest',
        replicas: 0,
        policy: {
          minReplicas: 0,
          maxReplicas: 7,
          concurrencyPerPod: 2,
          scaleToZeroAfterSeconds: 30,
          reservedConcurrency: 10,
        },
      });
      await new KubeScaleTarget(kas.kubeConfig()).scale(w!, 3, {
        desired: 3,
        reason: 'scale-out: test',
        state: emptyState(),
      });
      const d = await apps.readNamespacedDeployment({ namespace: 'shop', name: 'resize-latest' });
      expect(d.spec?.replicas).toBe(3);
      expect(JSON.parse(d.metadata?.annotations?.['sluice.dev/scale-decision'] ?? '{}')).toMatchObject({
        from: 0,
        to: 3,
        reason: 'scale-out: test',
      });
      expect(world.resolve('shop', 'resize')).toEqual([{ version: '$LATEST', weight: 1 }]);
      expect(world.resolve('shop', 'resize', '4')).toEqual([{ version: '4', weight: 1 }]);
    } finally {
      await world.stop();
    }
  });
});
