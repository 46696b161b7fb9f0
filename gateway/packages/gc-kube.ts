import { CustomObjectsApi, type KubeConfig, type KubernetesListObject } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../api/schema.js';
import type { SluiceResource } from '../../api/types.js';
import type { Registry } from 'prom-client';
import { KubeLeaseStore } from '../../lib/kube/leases.js';
import type { Logger } from '../../lib/index.js';
import { MemoryCatalog, type PackageCatalog } from '../catalog/catalog.js';
import { PackageGcMetrics } from '../metrics.js';
import { PackageGc, PackageGcLeader } from './gc.js';
import type { PackageStore } from './store.js';

const COLLECTIONS = [
  ['functions', 'Function'],
  ['functionversions', 'FunctionVersion'],
  ['layerversions', 'LayerVersion'],
] as const;

/**
 * A fresh read of every Function, FunctionVersion and LayerVersion from the API server, as a
 * catalog: the garbage collection's references do not depend on a watch being healthy (a watch
 * that broke and is restarting keeps its old objects but misses new ones). A failed list throws,
 * and the round deletes nothing.
 */
export function apiSnapshot(kc: KubeConfig): () => Promise<PackageCatalog> {
  const api = kc.makeApiClient(CustomObjectsApi);
  return async () => {
    const lists = await Promise.all(
      COLLECTIONS.map(async ([plural, kind]) => {
        const list = (await api.listClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural,
        })) as KubernetesListObject<SluiceResource>;
        return list.items.map((o) => ({ ...o, kind }) as SluiceResource);
      }),
    );
    return new MemoryCatalog(lists.flat());
  };
}

export interface KubePackageGcOptions {
  kc: KubeConfig;
  /** The gateway's watched catalog: it must be synced, and it is asked again before each deletion. */
  catalog: PackageCatalog;
  store: PackageStore;
  /** The gateway's namespace: where the Lease lives. */
  namespace: string;
  identity: string;
  intervalSeconds: number;
  graceSeconds: number;
  registry: Registry;
  log: Logger;
}

/**
 * The garbage collection of a gateway replica: it competes for the Lease sluice-gateway-package-gc
 * in the gateway's namespace; the holder collects every intervalSeconds. References are the union
 * of the watched catalog (synced) and a fresh list from the API server.
 */
export function kubePackageGc(o: KubePackageGcOptions): PackageGcLeader {
  const snapshot = apiSnapshot(o.kc);
  const gc = new PackageGc({
    store: o.store,
    catalogs: async () => [o.catalog, await snapshot()],
    live: o.catalog,
    graceMs: o.graceSeconds * 1000,
    metrics: new PackageGcMetrics(o.registry),
    log: o.log,
  });
  return new PackageGcLeader({
    gc,
    leases: new KubeLeaseStore(o.kc, o.namespace, 'sluice-gateway'),
    identity: o.identity,
    intervalMs: o.intervalSeconds * 1000,
    log: o.log,
  });
}
