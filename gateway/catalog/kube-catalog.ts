import { CustomObjectsApi, type KubeConfig, type KubernetesListObject } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../api/schema.js';
import type {
  AliasResource,
  FunctionResource,
  FunctionVersionResource,
  LayerVersionResource,
  SluiceResource,
} from '../../api/types.js';
import type { Logger } from '../../lib/index.js';
import { startWatch, type RunningWatch } from '../../lib/kube/watch.js';
import { MemoryCatalog, type FunctionCatalog, type PackageCatalog } from './catalog.js';

/**
 * The catalog kept current from cluster-wide watches on Function, FunctionVersion, Alias and
 * LayerVersion. Reads are in-memory lookups: an invocation never waits on the API server.
 */
export class KubeCatalog implements FunctionCatalog, PackageCatalog {
  private readonly store = new MemoryCatalog([], false);
  private readonly watches: RunningWatch[] = [];

  constructor(kc: KubeConfig, log: Logger) {
    const api = kc.makeApiClient(CustomObjectsApi);
    const watch = <T extends SluiceResource>(plural: string): RunningWatch =>
      startWatch<T>({
        kc,
        path: `/apis/${GROUP}/${VERSION}/${plural}`,
        list: () =>
          api.listClusterCustomObject({ group: GROUP, version: VERSION, plural }) as Promise<
            KubernetesListObject<T>
          >,
        handlers: {
          upsert: (o) => this.store.upsert(withKind(o, plural)),
          remove: (o) => this.store.remove(withKind(o, plural)),
        },
        log,
      });
    this.watches.push(
      watch<FunctionResource>('functions'),
      watch<FunctionVersionResource>('functionversions'),
      watch<AliasResource>('aliases'),
      watch<LayerVersionResource>('layerversions'),
    );
  }

  /** Resolves when all four collections were listed once. */
  async synced(): Promise<void> {
    await Promise.all(this.watches.map((w) => w.synced));
  }

  ready(): boolean {
    return this.watches.every((w) => w.isSynced());
  }

  getFunction(namespace: string, name: string): FunctionResource | undefined {
    return this.store.getFunction(namespace, name);
  }

  getVersion(namespace: string, fn: string, version: string): FunctionVersionResource | undefined {
    return this.store.getVersion(namespace, fn, version);
  }

  getAlias(namespace: string, fn: string, alias: string): AliasResource | undefined {
    return this.store.getAlias(namespace, fn, alias);
  }

  listVersions(namespace: string, fn: string): FunctionVersionResource[] {
    return this.store.listVersions(namespace, fn);
  }

  listFunctions(namespace?: string): FunctionResource[] {
    return this.store.listFunctions(namespace);
  }

  listAllVersions(namespace?: string): FunctionVersionResource[] {
    return this.store.listAllVersions(namespace);
  }

  getLayerVersion(namespace: string, layerName: string, version: number): LayerVersionResource | undefined {
    return this.store.getLayerVersion(namespace, layerName, version);
  }

  listLayerVersions(namespace?: string, layerName?: string): LayerVersionResource[] {
    return this.store.listLayerVersions(namespace, layerName);
  }

  async stop(): Promise<void> {
    await Promise.all(this.watches.map((w) => w.stop()));
  }
}

const KIND_OF: Record<string, SluiceResource['kind']> = {
  functions: 'Function',
  functionversions: 'FunctionVersion',
  aliases: 'Alias',
  layerversions: 'LayerVersion',
};

/** Items of a list response carry no kind; watch events do. Set it so the store can index. */
function withKind<T extends SluiceResource>(o: T, plural: string): T {
  if (o.kind) return o;
  const typed: T = { ...o, kind: KIND_OF[plural] };
  return typed;
}
