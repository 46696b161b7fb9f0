/**
 * The install-time NATS bootstrap (the chart's hook Job) against a real kube-apiserver: it
 * creates the keys, the server's auth config and the components' creds once, changes nothing on
 * a second run, re-mints only stale creds, and what it wrote runs a real nats-server in which
 * each component connects under its own permissions.
 */
import { Writable } from 'node:stream';
import { CoreV1Api, type V1ConfigMap, type V1Secret } from '@kubernetes/client-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKube, type Kube } from '../../controller/kube/client.js';
import { bootstrap, BOOTSTRAP_NAMES, keysOfSecret } from '../../controller/natsbootstrap/bootstrap.js';
import { createLogger } from '../../lib/log.js';
import { credsAuth, publicKeyOf } from '../../lib/nats/index.js';
import { ApiServer } from '../support/apiserver.js';
import { NatsServer } from './support/nats.js';

const NS = 'sluice-system';
const log = createLogger({
  component: 'test',
  level: 'silent',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});
let kas: ApiServer;
let kube: Kube;

beforeAll(async () => {
  kas = await ApiServer.start();
  kube = makeKube(kas.kubeConfig());
  await kas
    .kubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name: NS } } });
}, 120_000);

afterAll(async () => {
  await kas?.stop();
});

const versions = async (): Promise<Record<string, string | undefined>> => {
  const out: Record<string, string | undefined> = {};
  for (const n of Object.values(BOOTSTRAP_NAMES)) {
    const kind = n === BOOTSTRAP_NAMES.auth ? 'ConfigMap' : 'Secret';
    out[n] = (await kube.get<V1Secret>('v1', kind, NS, n))?.metadata?.resourceVersion;
  }
  return out;
};
const text = (s: V1Secret | undefined, k: string): string =>
  Buffer.from(s?.data?.[k] ?? '', 'base64').toString();

describe('NATS bootstrap', () => {
  it('creates everything once; a second run changes nothing; stale creds are re-minted, the keys kept', async () => {
    const keys = await bootstrap(kube, { namespace: NS, resolverDir: '/data/jwt' }, log);
    const first = await versions();
    expect(Object.values(first).every(Boolean)).toBe(true);
    await bootstrap(kube, { namespace: NS, resolverDir: '/data/jwt' }, log);
    expect(await versions()).toEqual(first);
    expect(keysOfSecret((await kube.get<V1Secret>('v1', 'Secret', NS, BOOTSTRAP_NAMES.keys))!)).toEqual(keys);

    // Creds that are not the current account's are replaced; the others stay.
    await kube.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: BOOTSTRAP_NAMES.poller, namespace: NS },
      stringData: { creds: 'garbage' },
    });
    await bootstrap(kube, { namespace: NS, resolverDir: '/data/jwt' }, log);
    const after = await versions();
    expect(after[BOOTSTRAP_NAMES.poller]).not.toBe(first[BOOTSTRAP_NAMES.poller]);
    expect(after[BOOTSTRAP_NAMES.gateway]).toBe(first[BOOTSTRAP_NAMES.gateway]);
    expect(after[BOOTSTRAP_NAMES.keys]).toBe(first[BOOTSTRAP_NAMES.keys]);
  });

  it('what it wrote runs nats-server: the gateway creates its streams, the poller may not, the controller holds SYS', async () => {
    const keys = keysOfSecret((await kube.get<V1Secret>('v1', 'Secret', NS, BOOTSTRAP_NAMES.keys))!);
    const auth = await kube.get<V1ConfigMap>('v1', 'ConfigMap', NS, BOOTSTRAP_NAMES.auth);
    const server = await NatsServer.start({
      keys,
      authConfig: (auth?.data?.['auth.conf'] ?? '').replaceAll('"/data/jwt"', '"RESOLVER_DIR"'),
    });
    try {
      const creds = async (name: string) => text(await kube.get<V1Secret>('v1', 'Secret', NS, name), 'creds');
      const gw = await connect({ servers: server.url, ...credsAuth(await creds(BOOTSTRAP_NAMES.gateway)) });
      await (await jetstreamManager(gw)).streams.add({ name: 'SLUICE_ASYNC', subjects: ['sluice.async.>'] });
      await gw.close();
      const poller = await connect({
        servers: server.url,
        ...credsAuth(await creds(BOOTSTRAP_NAMES.poller)),
      });
      await expect((await jetstreamManager(poller)).streams.delete('SLUICE_ASYNC')).rejects.toThrow(
        /Permissions Violation/,
      );
      await poller.close();
      const ctl = await connect({
        servers: server.url,
        ...credsAuth(await creds(BOOTSTRAP_NAMES.controller)),
      });
      const r = await ctl.request('$SYS.REQ.CLAIMS.LIST', undefined, { timeout: 5000 });
      // The two preloaded accounts: SYS and SLUICE.
      expect(r.json<{ data: string[] }>().data.sort()).toEqual(
        [publicKeyOf(keys.systemAccount), publicKeyOf(keys.platformAccount)].sort(),
      );
      await ctl.close();
      const controllerSecret = await kube.get<V1Secret>('v1', 'Secret', NS, BOOTSTRAP_NAMES.controller);
      expect(text(controllerSecret, 'tenant-master')).toBe(keys.tenantMaster);
      expect(controllerSecret?.data?.operator).toBeUndefined(); // never the operator identity
    } finally {
      await server.cleanup();
    }
  });
});
