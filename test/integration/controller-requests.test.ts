/**
 * Reads from caches, writes to the API server: the API requests of one Function reconcile,
 * counted at the client against a real kube-apiserver. The reconciler reads through the
 * controller's own watches (a Controller started on its own client, whose queue reconciles
 * nothing here) and writes through a client whose every request is recorded: each request a
 * KubeConfig's API clients send passes its authentication hook once.
 *
 * Before the caches (measured the same way on the API-backed Kube): an unchanged Function took
 * 13 requests (GET function, LIST versions, LIST aliases, PATCH invoke-token Secret, GET code
 * ConfigMap, GET Deployment, PATCH Deployment, Service, NetworkPolicy, LIST Deployments,
 * Services, ConfigMaps, Pods), a memory change 14 (the same and the status PATCH).
 */
import { Writable } from 'node:stream';
import {
  AppsV1Api,
  CoreV1Api,
  NetworkingV1Api,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FunctionResource } from '../../api/types.js';
import { createLogger } from '../../lib/log.js';
import type { AliasReconciler } from '../../controller/alias/reconcile.js';
import { Controller } from '../../controller/controller.js';
import { FunctionReconciler } from '../../controller/function/reconcile.js';
import { DEFAULT_BUILD_OPTIONS } from '../../controller/function/resources/types.js';
import { cachedKube, Listers } from '../../controller/kube/cached.js';
import { makeKube, type Kube } from '../../controller/kube/client.js';
import { ApiServer } from '../support/apiserver.js';
import { budget, sleep, until } from '../support/time.js';

const API = 'sluice.dev/v1alpha1';
const NS = 'counted';
const log = createLogger({
  component: 'test',
  level: 'silent',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

/** Records `METHOD /path` of every request sent through `kc`'s API clients. */
function recordRequests(kc: KubeConfig): string[] {
  const seen: string[] = [];
  const orig = kc.applySecurityAuthentication.bind(kc);
  kc.applySecurityAuthentication = async (ctx) => {
    seen.push(`${ctx.getHttpMethod()} ${new URL(ctx.getUrl()).pathname}`);
    return orig(ctx);
  };
  return seen;
}

let kas: ApiServer;
let admin: Kube;
let adminKc: KubeConfig;
let listers: Listers;
let controller: Controller;
let requests: string[];
let functions: FunctionReconciler;
/** `namespace/name` of every reconcile the controller's queue ran (its reconcilers only record). */
const enqueued: string[] = [];

beforeAll(async () => {
  kas = await ApiServer.start();
  adminKc = kas.kubeConfig();
  for (const name of [NS, 'other'])
    await adminKc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  admin = makeKube(adminKc);
  const deadline = Date.now() + budget(30_000);
  for (;;) {
    try {
      for (const kind of ['Function', 'FunctionVersion', 'Alias']) await admin.list(API, kind, NS);
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
  // The controller's watches, on a client of their own; its queue reconciles nothing here.
  listers = new Listers();
  const idle = {
    reconcile: (namespace: string, name: string): Promise<void> => {
      enqueued.push(`${namespace}/${name}`);
      return Promise.resolve();
    },
  };
  controller = new Controller({
    kc: kas.kubeConfig(),
    log,
    functions: idle as unknown as FunctionReconciler,
    aliases: idle as unknown as AliasReconciler,
    reconcileTotal: new Counter({
      name: 'sluice_reconcile_total',
      help: 'test',
      labelNames: ['kind', 'result'] as const,
      registers: [new Registry()],
    }),
    workers: 1,
    resyncSeconds: 3600,
    namespace: '',
    listers,
  });
  await controller.start();
  // The reconciler writes through a client whose requests are recorded.
  const kc = kas.kubeConfig();
  requests = recordRequests(kc);
  functions = new FunctionReconciler({
    kube: cachedKube(makeKube(kc), listers),
    opts: { ...DEFAULT_BUILD_OPTIONS, invokeKey: Buffer.alloc(32, 7) },
    gatewayUrl: 'http://gw:8080',
  });
}, budget(120_000));

afterAll(async () => {
  await controller?.stop();
  await kas?.stop();
});

const fn = (name: string, spec: Partial<FunctionResource['spec']> = {}): FunctionResource => ({
  apiVersion: API,
  kind: 'Function',
  metadata: { name, namespace: NS },
  spec: { runtime: 'nodejs22', code: { inline: 'exports.handler = async () => 1' }, ...spec },
});

/** Waits until the caches hold what the API server holds in NS (same objects, same resourceVersions). */
async function cachesCaughtUp(): Promise<void> {
  const apps = adminKc.makeApiClient(AppsV1Api);
  const core = adminKc.makeApiClient(CoreV1Api);
  const net = adminKc.makeApiClient(NetworkingV1Api);
  const server = async (): Promise<[string, string, KubernetesObject[]][]> => [
    [API, 'Function', await admin.list(API, 'Function', NS)],
    [API, 'FunctionVersion', await admin.list(API, 'FunctionVersion', NS)],
    ['apps/v1', 'Deployment', (await apps.listNamespacedDeployment({ namespace: NS })).items],
    ['v1', 'Service', (await core.listNamespacedService({ namespace: NS })).items],
    ['v1', 'ConfigMap', (await core.listNamespacedConfigMap({ namespace: NS })).items],
    [
      'networking.k8s.io/v1',
      'NetworkPolicy',
      (await net.listNamespacedNetworkPolicy({ namespace: NS })).items,
    ],
  ];
  const versions = (objs: readonly KubernetesObject[]): string =>
    objs
      .map((o) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`)
      .sort()
      .join(',');
  await until(async () => {
    for (const [apiVersion, kind, objs] of await server()) {
      if (versions(listers.of(apiVersion, kind)?.list(NS) ?? []) !== versions(objs)) return false;
    }
    return true;
  }, 'the caches to catch up with the API server');
}

/** One reconcile; the requests it sent. */
async function reconcileCounted(name: string): Promise<string[]> {
  await cachesCaughtUp();
  requests.length = 0;
  await functions.reconcile(NS, name, log);
  return [...requests];
}

describe('API requests of one Function reconcile (reads from caches, writes to the API server)', () => {
  it('an unchanged Function: none; a memory change: the Deployment PATCH and the status PATCH', async () => {
    await admin.apply(fn('counted', { memoryMB: 256 }));
    const first = await reconcileCounted('counted');
    // The first reconcile writes everything (nothing exists yet); its only reads are the object
    // client's API discovery (once per group version, then cached by the client).
    expect(first.filter((r) => !r.startsWith('GET '))).toEqual([
      'PATCH /api/v1/namespaces/counted/secrets/sluice-invoke-counted',
      'POST /api/v1/namespaces/counted/configmaps',
      'POST /apis/apps/v1/namespaces/counted/deployments',
      'PATCH /api/v1/namespaces/counted/services/counted-latest',
      'PATCH /apis/networking.k8s.io/v1/namespaces/counted/networkpolicies/counted-function',
      'PATCH /apis/sluice.dev/v1alpha1/namespaces/counted/functions/counted/status',
    ]);
    expect(first.filter((r) => r.startsWith('GET ')).sort()).toEqual([
      'GET /api/v1',
      'GET /apis/apps/v1',
      'GET /apis/networking.k8s.io/v1',
    ]);
    // Its own writes come back through the watches; then a reconcile sends nothing.
    expect(await reconcileCounted('counted')).toEqual([]);
    expect(await reconcileCounted('counted')).toEqual([]);

    const apps = adminKc.makeApiClient(AppsV1Api);
    const memoryLimit = async (): Promise<string | undefined> =>
      (
        await apps.readNamespacedDeployment({ name: 'counted-latest', namespace: NS })
      ).spec?.template.spec?.containers.find((c) => c.name === 'function')?.resources?.limits?.memory;
    const before = await memoryLimit();
    await admin.apply(fn('counted', { memoryMB: 512 }));
    expect(await reconcileCounted('counted')).toEqual([
      'PATCH /apis/apps/v1/namespaces/counted/deployments/counted-latest',
      'PATCH /apis/sluice.dev/v1alpha1/namespaces/counted/functions/counted/status',
    ]);
    expect(await reconcileCounted('counted')).toEqual([]);

    // The write landed: the Deployment's pods get the new memory size.
    expect(before).toBeDefined();
    expect(await memoryLimit()).not.toBe(before);
    expect(await memoryLimit()).toMatch(/^5\d\dMi$|^6\d\dMi$/);
  });

  it('routes a ConfigMap to the functions that name it in its own namespace only', async () => {
    await admin.apply(fn('bycode', { code: { configMap: { name: 'user-code' } } }));
    await admin.apply({ ...fn('bycode'), metadata: { name: 'bycode', namespace: 'other' } });
    const core = adminKc.makeApiClient(CoreV1Api);
    await until(
      () => enqueued.includes(`${NS}/bycode`) && enqueued.includes('other/bycode'),
      'both functions',
    );
    enqueued.length = 0;
    await core.createNamespacedConfigMap({
      namespace: 'other',
      body: { metadata: { name: 'user-code' }, data: { 'index.js': 'x' } },
    });
    await until(() => listers.of('v1', 'ConfigMap')?.get('user-code', 'other') !== undefined, 'the cache');
    // The event was handled when the cache took it; give the queue time to run what it enqueued.
    await sleep(500);
    expect(enqueued).not.toContain(`${NS}/bycode`);
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: 'user-code' }, data: { 'index.js': 'x' } },
    });
    await until(() => enqueued.includes(`${NS}/bycode`), `${NS}/bycode to be reconciled`);
    // other/bycode runs inline code: no ConfigMap of either namespace concerns it.
    expect(enqueued).not.toContain('other/bycode');
  });
});
