/**
 * The Function's DestinationsValid condition, written by the reconciler against a real
 * kube-apiserver: what the controller can know about a destination before anything is delivered.
 */
import { Writable } from 'node:stream';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddressPolicy } from '../../api/destinations.js';
import type { Condition, FunctionResource } from '../../api/types.js';
import { FunctionReconciler } from '../../controller/function/reconcile.js';
import { DEFAULT_BUILD_OPTIONS } from '../../controller/function/resources/types.js';
import { makeKube, type Kube } from '../../controller/kube/client.js';
import { createLogger } from '../../lib/log.js';
import { ApiServer } from '../support/apiserver.js';
import { until } from '../support/time.js';

const API = 'sluice.dev/v1alpha1';
const NS = 'dest';
const log = createLogger({
  component: 'test',
  level: 'silent',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

let kas: ApiServer;
let kube: Kube;
let functions: FunctionReconciler;

const fn = (name: string, spec: Partial<FunctionResource['spec']> = {}): FunctionResource => ({
  apiVersion: API,
  kind: 'Function',
  metadata: { name, namespace: NS },
  spec: { runtime: 'nodejs22', code: { inline: 'exports.handler = async () => 1' }, ...spec },
});

async function condition(name: string): Promise<Condition | undefined> {
  const f = await kube.get<FunctionResource>(API, 'Function', NS, name);
  return f?.status?.conditions?.find((c) => c.type === 'DestinationsValid');
}

beforeAll(async () => {
  kas = await ApiServer.start();
  const kc = kas.kubeConfig();
  kube = makeKube(kc);
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
  // A new CRD's storage may answer 429 for a moment after it is served.
  await until(
    async () => {
      try {
        for (const kind of ['Function', 'FunctionVersion', 'Alias']) await kube.list(API, kind, NS);
        await kube.apply(fn('warmup'));
        await kube.delete(API, 'Function', NS, 'warmup');
        return true;
      } catch {
        return false;
      }
    },
    'the CRDs to be served',
    30_000,
    250,
  );
  functions = new FunctionReconciler({
    kube,
    opts: DEFAULT_BUILD_OPTIONS,
    gatewayUrl: 'http://gw:8080',
    // This cluster's pods use a public range: the admission rules cannot know it, the controller does.
    destinationAddresses: new AddressPolicy(['203.0.113.0/24']),
  });
}, 120_000);

afterAll(async () => {
  await kas?.stop();
});

describe('DestinationsValid', () => {
  it('is False while a function destination does not exist, True once it does', async () => {
    await kube.apply(
      fn('orders', { async: { onSuccess: 'function:audit', onFailure: 'nats:orders.failed' } }),
    );
    await functions.reconcile(NS, 'orders', log);
    expect(await condition('orders')).toMatchObject({
      status: 'False',
      reason: 'DestinationFunctionNotFound',
      message: 'spec.async.onSuccess: no Function audit in this namespace',
    });
    await kube.apply(fn('audit'));
    await functions.reconcile(NS, 'orders', log);
    expect(await condition('orders')).toMatchObject({ status: 'True', reason: 'Valid' });
  });

  it("is False for an address in the cluster's configured ranges, which the API server admitted", async () => {
    await kube.apply(fn('webhook', { async: { onFailure: 'https://203.0.113.9/hook' } }));
    await functions.reconcile(NS, 'webhook', log);
    const c = await condition('webhook');
    expect(c).toMatchObject({ status: 'False', reason: 'InvalidDestination' });
    expect(String(c?.message)).toContain(
      'spec.async.onFailure: destination "https://203.0.113.9/hook" is refused: 203.0.113.9 is in the cluster\'s range 203.0.113.0/24',
    );
  });
});
