/**
 * How many API requests one reconcile of a Function makes, counted at the client: every request
 * a KubeConfig's API clients send passes its authentication hook once.
 */
import { Writable } from 'node:stream';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FunctionResource } from '../../api/types.js';
import { createLogger } from '../../lib/log.js';
import { FunctionReconciler } from '../../controller/function/reconcile.js';
import { DEFAULT_BUILD_OPTIONS } from '../../controller/function/resources/types.js';
import { makeKube, type Kube } from '../../controller/kube/client.js';
import { ApiServer } from '../support/apiserver.js';
import { budget, sleep } from '../support/time.js';

const API = 'sluice.dev/v1alpha1';
const NS = 'counted';
const log = createLogger({
  component: 'test',
  level: 'silent',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

/** Records `METHOD /path` of every request sent through `kc`'s API clients. */
function countRequests(kc: KubeConfig): string[] {
  const seen: string[] = [];
  const orig = kc.applySecurityAuthentication.bind(kc);
  kc.applySecurityAuthentication = async (ctx) => {
    seen.push(`${ctx.getHttpMethod()} ${new URL(ctx.getUrl()).pathname}`);
    return orig(ctx);
  };
  return seen;
}

let kas: ApiServer;
let kube: Kube;
let requests: string[];
let functions: FunctionReconciler;

beforeAll(async () => {
  kas = await ApiServer.start();
  const admin = kas.kubeConfig();
  await admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
  kube = makeKube(admin);
  const deadline = Date.now() + budget(30_000);
  for (;;) {
    try {
      for (const kind of ['Function', 'FunctionVersion', 'Alias']) await kube.list(API, kind, NS);
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
  const kc = kas.kubeConfig();
  requests = countRequests(kc);
  functions = new FunctionReconciler({
    kube: makeKube(kc),
    opts: { ...DEFAULT_BUILD_OPTIONS, invokeKey: Buffer.alloc(32, 7) },
    gatewayUrl: 'http://gw:8080',
  });
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

describe('API requests of one reconcile', () => {
  it('measures', async () => {
    await kube.apply(fn('counted', { memoryMB: 256 }));
    await functions.reconcile(NS, 'counted', log);
    await functions.reconcile(NS, 'counted', log);
    requests.length = 0;
    await functions.reconcile(NS, 'counted', log);
    const unchanged = [...requests];
    await kube.apply(fn('counted', { memoryMB: 512 }));
    requests.length = 0;
    await functions.reconcile(NS, 'counted', log);
    const memory = [...requests];
    console.log(JSON.stringify({ unchanged, memory }, null, 1));
    expect(unchanged.length).toBeGreaterThan(0);
  });
});
