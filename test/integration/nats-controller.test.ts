/**
 * The controller's NATS accounts against a real kube-apiserver and a real nats-server in
 * operator mode: accounts created for the namespaces that need them, the `sluice-nats` Secret,
 * the accounts ConfigMap the poller and gateway read, the budget, a re-push after the server
 * lost its accounts, rotation, and purge + delete when the namespace goes.
 */
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { CoreV1Api, type V1ConfigMap, type V1Namespace, type V1Secret } from '@kubernetes/client-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventSourceMappingResource, FunctionResource } from '../../api/types.js';
import { Counter, Registry } from 'prom-client';
import { AliasReconciler } from '../../controller/alias/reconcile.js';
import { Controller } from '../../controller/controller.js';
import { FunctionReconciler } from '../../controller/function/reconcile.js';
import { DEFAULT_BUILD_OPTIONS } from '../../controller/function/resources/types.js';
import { makeKube, type Kube } from '../../controller/kube/client.js';
import { NatsAccountOps } from '../../controller/natsaccount/nats.js';
import { NatsAccountReconciler } from '../../controller/natsaccount/reconcile.js';
import { createLogger } from '../../lib/log.js';
import { credsAuth, entriesOf, publicKeyOf, type TenantLimits } from '../../lib/nats/index.js';
import { ApiServer } from '../support/apiserver.js';
import { until } from '../support/time.js';
import { NatsServer } from './support/nats.js';

const API = 'sluice.dev/v1alpha1';
const RELEASE = 'sluice-system';
const log = createLogger({
  component: 'test',
  level: 'silent',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});
const LIMITS: TenantLimits = {
  diskStorage: 8 * 1024 * 1024,
  memoryStorage: 0,
  streams: 4,
  consumers: 16,
  maxAckPending: -1,
};

let kas: ApiServer;
let nats: NatsServer;
let kube: Kube;
let core: CoreV1Api;
let sys: NatsConnection;
const namespaces = new Map<string, V1Namespace>();

beforeAll(async () => {
  [kas, nats] = await Promise.all([ApiServer.start(), NatsServer.start()]);
  const kc = kas.kubeConfig();
  kube = makeKube(kc);
  core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: RELEASE } } });
  sys = await nats.connect('controller');
}, 120_000);

afterAll(async () => {
  await sys?.close();
  await Promise.all([kas?.stop(), nats?.cleanup()]);
});

/** A controller start: a new reconciler over what the API server holds now (informer caches stand-in). */
function controller(budgetNamespaces = 10): { reconcile(ns: string): Promise<void> } {
  const r = new NatsAccountReconciler({
    kube,
    accounts: new NatsAccountOps(sys, nats.keys, nats.url),
    keys: { ...nats.keys, platformSignerPublic: publicKeyOf(nats.keys.platformSigner) },
    limits: LIMITS,
    budget: { diskStorage: budgetNamespaces * LIMITS.diskStorage, memoryStorage: 0 },
    tenantUrl: nats.url,
    releaseNamespace: RELEASE,
    configMapName: 'sluice-nats-accounts',
    namespace: (n) => namespaces.get(n),
    functions: () => cachedFunctions,
    mappings: (n) => cachedMappings.filter((m) => m.metadata.namespace === n),
  });
  return {
    async reconcile(ns: string) {
      namespaces.clear();
      for (const n of (await core.listNamespace()).items) namespaces.set(n.metadata?.name ?? '', n);
      cachedMappings = await kube.list<EventSourceMappingResource>(API, 'EventSourceMapping', '');
      await r.reconcile(ns, log);
    },
  };
}
let cachedMappings: EventSourceMappingResource[] = [];
const cachedFunctions: FunctionResource[] = [];

async function namespace(name: string, annotations?: Record<string, string>): Promise<void> {
  await core.createNamespace({ body: { metadata: { name, ...(annotations ? { annotations } : {}) } } });
}

async function queueMapping(ns: string, stream: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await kube.apply({
        apiVersion: API,
        kind: 'EventSourceMapping',
        metadata: { name: 'orders', namespace: ns },
        spec: { function: 'worker', source: { natsQueue: { stream } } },
      });
      return;
    } catch (err) {
      if (i > 40) throw err; // a new CRD's storage may answer 429 for a moment
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function entries(): Promise<ReturnType<typeof entriesOf>> {
  return entriesOf(await kube.get<V1ConfigMap>('v1', 'ConfigMap', RELEASE, 'sluice-nats-accounts'));
}

async function secret(ns: string): Promise<{ url: string; creds: string } | undefined> {
  const s = await kube.get<V1Secret>('v1', 'Secret', ns, 'sluice-nats');
  if (!s?.data) return undefined;
  const d = (k: string): string => Buffer.from(s.data?.[k] ?? '', 'base64').toString();
  return { url: d('url'), creds: d('creds') };
}

const connectWith = (creds: string): Promise<NatsConnection> =>
  connect({ servers: nats.url, reconnect: false, ...credsAuth(creds) });

describe('NATS accounts per namespace', () => {
  it('a namespace with a NATS mapping gets its account, the ConfigMap entry and Secret sluice-nats; one without gets none', async () => {
    await namespace('alpha');
    await namespace('idle');
    await queueMapping('alpha', 'ORDERS');
    const c = controller();
    await c.reconcile('alpha');
    await c.reconcile('idle');

    const e = (await entries()).get('alpha');
    expect(e).toMatchObject({ ready: true, uid: namespaces.get('alpha')?.metadata?.uid });
    expect(e?.account).toMatch(/^A/);
    expect((await entries()).has('idle')).toBe(false);
    expect(await secret('idle')).toBeUndefined();

    const s = await secret('alpha');
    expect(s?.url).toBe(nats.url);
    const nc = await connectWith(s?.creds ?? '');
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'ORDERS', subjects: ['orders.>'] });
      await jetstream(nc).publish('orders.new', 'x');
      // The account's limits are the chart's per-namespace limits.
      const info = await jsm.getAccountInfo();
      expect(info.limits).toMatchObject({ max_storage: LIMITS.diskStorage, max_streams: LIMITS.streams });
    } finally {
      await nc.close();
    }
    // A second reconcile of an unchanged namespace changes nothing: same creds, same entry.
    await c.reconcile('alpha');
    expect((await secret('alpha'))?.creds).toBe(s?.creds);
  });

  it('the annotation sluice.dev/nats-credentials gives a namespace its creds before any mapping', async () => {
    await namespace('beta', { 'sluice.dev/nats-credentials': 'true' });
    await controller().reconcile('beta');
    const s = await secret('beta');
    const nc = await connectWith(s?.creds ?? '');
    await (await jetstreamManager(nc)).streams.add({ name: 'EARLY', subjects: ['early.>'] });
    await nc.close();
  });

  it('re-pushes every account on start when the server lost them (a resolver directory wiped)', async () => {
    const creds = (await secret('alpha'))?.creds ?? '';
    await nats.stop();
    rmSync(path.join(nats.dir, 'jwt'), { recursive: true, force: true });
    await nats.restart();
    await sys.flush().catch(() => undefined);
    await expect(connectWith(creds)).rejects.toThrow(/Authorization Violation/i);
    await until(() => !sys.isClosed() && sys.info !== undefined, 'the controller reconnected');
    const c = controller();
    await until(
      () =>
        c
          .reconcile('alpha')
          .then(() => true)
          .catch(() => false),
      'a reconcile after the restart',
    );
    const nc = await connectWith(creds);
    // Its JetStream data was on the volume: the stream is back with its message.
    expect((await (await jetstreamManager(nc)).streams.info('ORDERS')).state.messages).toBe(1);
    await nc.close();
  });

  it('past the budget a namespace gets no account, a BudgetExceeded entry and a Warning event', async () => {
    await namespace('gamma', { 'sluice.dev/nats-credentials': 'true' });
    // Room for two namespaces: alpha and beta have theirs.
    await controller(2).reconcile('gamma');
    expect((await entries()).get('gamma')).toMatchObject({ ready: false, reason: 'BudgetExceeded' });
    expect((await entries()).get('gamma')?.account).toBeUndefined();
    expect(await secret('gamma')).toBeUndefined();
    const events = await core.listNamespacedEvent({ namespace: 'gamma' });
    expect(events.items.map((e) => e.reason)).toContain('NatsBudgetExceeded');
    // With room again, it gets one.
    await controller(3).reconcile('gamma');
    expect((await entries()).get('gamma')).toMatchObject({ ready: true });
  });

  it('deleting Secret sluice-nats rotates the creds: new ones work, the old user is revoked', async () => {
    const old = (await secret('beta'))?.creds ?? '';
    await kube.delete('v1', 'Secret', 'beta', 'sluice-nats');
    await controller().reconcile('beta');
    const fresh = (await secret('beta'))?.creds ?? '';
    expect(fresh).not.toBe(old);
    await (await connectWith(fresh)).close();
    await expect(connectWith(old)).rejects.toThrow(/Authorization Violation|Revoked/i);
  });

  it('a deleted namespace’s account is purged and deleted: creds refused, entry gone', async () => {
    const creds = (await secret('alpha'))?.creds ?? '';
    const account = (await entries()).get('alpha')?.account ?? '';
    await core.deleteNamespace({ name: 'alpha' });
    const c = controller();
    // Terminating: the account stays (mappings' finalizers still clean up in it).
    await c.reconcile('alpha');
    expect((await entries()).get('alpha')?.account).toBe(account);
    // No namespace controller runs here: finish the deletion by hand.
    await core.replaceNamespaceFinalize({
      name: 'alpha',
      body: { metadata: { name: 'alpha' }, spec: { finalizers: [] } },
    });
    await until(
      async () => !(await core.listNamespace()).items.some((n) => n.metadata?.name === 'alpha'),
      'alpha gone',
    );
    await c.reconcile('alpha');
    expect((await entries()).has('alpha')).toBe(false);
    await expect(connectWith(creds)).rejects.toThrow(/Authorization Violation|Expired/i);
    // Its JetStream data went too (purge before delete).
    await until(
      () => !existsSync(path.join(nats.dir, 'js', 'jetstream', account)),
      'the account store directory removed',
    );
  });

  it('the running controller (informers, work queue) reacts to a new mapping and to the namespace going', async () => {
    const kc = kas.kubeConfig();
    const controller = new Controller({
      kc,
      log,
      reconcileTotal: new Counter({
        name: 'sluice_reconcile_total',
        help: 'h',
        labelNames: ['kind', 'result'],
        registers: [new Registry()],
      }),
      workers: 2,
      resyncSeconds: 300,
      namespace: '',
      functions: new FunctionReconciler({ kube, opts: DEFAULT_BUILD_OPTIONS, gatewayUrl: 'http://gw:8080' }),
      aliases: new AliasReconciler(kube),
      natsAccounts: (caches) =>
        new NatsAccountReconciler({
          kube,
          accounts: new NatsAccountOps(sys, nats.keys, nats.url),
          keys: { ...nats.keys, platformSignerPublic: publicKeyOf(nats.keys.platformSigner) },
          limits: LIMITS,
          budget: { diskStorage: 10 * LIMITS.diskStorage, memoryStorage: 0 },
          tenantUrl: nats.url,
          releaseNamespace: RELEASE,
          configMapName: 'sluice-nats-accounts',
          ...caches,
        }),
    });
    await controller.start();
    try {
      await namespace('delta');
      expect(await secret('delta')).toBeUndefined();
      await queueMapping('delta', 'JOBS');
      await until(async () => (await secret('delta')) !== undefined, 'Secret delta/sluice-nats', 30_000);
      const creds = (await secret('delta'))?.creds ?? '';
      await (await connectWith(creds)).close();
      await core.deleteNamespace({ name: 'delta' });
      await core.replaceNamespaceFinalize({
        name: 'delta',
        body: { metadata: { name: 'delta' }, spec: { finalizers: [] } },
      });
      await until(async () => !(await entries()).has('delta'), 'the account of delta removed', 30_000);
      await expect(connectWith(creds)).rejects.toThrow(/Authorization Violation|Expired/i);
    } finally {
      await controller.stop();
    }
  });
});
