import {
  AppsV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1Deployment,
} from '@kubernetes/client-node';
import { LABELS, LATEST, LATEST_LABEL } from '../api/naming.js';
import type {
  AliasResource,
  EventSourceMappingResource,
  EventSourceMappingStatus,
  FunctionResource,
  FunctionVersionResource,
} from '../api/types.js';
import { startWatch, type RunningWatch, type WatchHandlers } from '../lib/kube/watch.js';
import type { Logger } from '../lib/log.js';
import type { Workload, WorkloadView } from './autoscaler/autoscaler.js';
import type { ScalingPolicy } from './autoscaler/decide.js';
import type { VersionResolver } from './autoscaler/demand.js';
import { resolveMapping, type MappingConfig } from './mapping.js';
import type { MappingApi } from './work/manager.js';

const GROUP = 'sluice.dev';
const VERSION = 'v1alpha1';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * The cluster as the poller sees it, through informers: EventSourceMappings (work), Functions,
 * FunctionVersions and Aliases (scaling policies and qualifier resolution) and the Deployments
 * of function versions (what to scale).
 */
export class KubeWorld implements MappingApi, WorkloadView {
  private readonly custom: CustomObjectsApi;
  private readonly esms: RunningWatch<EventSourceMappingResource>;
  private readonly functions: RunningWatch<FunctionResource>;
  private readonly versions: RunningWatch<FunctionVersionResource>;
  private readonly aliases: RunningWatch<AliasResource>;
  private readonly deployments: RunningWatch<V1Deployment>;
  private readonly listeners: (() => void)[] = [];
  synced = false;

  constructor(kc: KubeConfig, log: Logger) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
    const apps = kc.makeApiClient(AppsV1Api);
    const crd = <T extends KubernetesObject>(plural: string, handlers?: WatchHandlers<T>): RunningWatch<T> =>
      startWatch<T>({
        kc,
        path: `/apis/${GROUP}/${VERSION}/${plural}`,
        list: () =>
          this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural }) as Promise<
            KubernetesListObject<T>
          >,
        log,
        ...(handlers ? { handlers } : {}),
      });
    // Wake the manager on what changes its work (spec, deletion), not on the status it writes itself.
    const seen = new Map<string, string>();
    const changed = (e: EventSourceMappingResource, removed: boolean): void => {
      const uid = e.metadata.uid ?? '';
      const mark = removed
        ? 'gone'
        : `${e.metadata.generation}/${String(e.metadata.deletionTimestamp ?? '')}`;
      if (seen.get(uid) === mark) return;
      if (removed) seen.delete(uid);
      else seen.set(uid, mark);
      this.listeners.forEach((l) => l());
    };
    this.esms = crd<EventSourceMappingResource>('eventsourcemappings', {
      upsert: (e) => changed(e, false),
      remove: (e) => changed(e, true),
    });
    this.functions = crd<FunctionResource>('functions');
    this.versions = crd<FunctionVersionResource>('functionversions');
    this.aliases = crd<AliasResource>('aliases');
    const selector = `${LABELS.component}=function,${LABELS.managedBy}=sluice-controller`;
    this.deployments = startWatch<V1Deployment>({
      kc,
      path: '/apis/apps/v1/deployments',
      list: () => apps.listDeploymentForAllNamespaces({ labelSelector: selector }),
      labelSelector: selector,
      log,
    });
  }

  /** Calls `f` whenever a mapping changes. */
  onMappingChange(f: () => void): void {
    this.listeners.push(f);
  }

  /** Resolves once every watch delivered its first list (each retries on its own until then). */
  async start(): Promise<void> {
    await Promise.all(this.all().map((w) => w.synced));
    this.synced = true;
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.all().map((w) => w.stop()));
  }

  private all(): RunningWatch<KubernetesObject>[] {
    return [this.esms, this.functions, this.versions, this.aliases, this.deployments];
  }

  // MappingApi
  list(): EventSourceMappingResource[] {
    return [...this.esms.list()];
  }

  async patchStatus(namespace: string, name: string, status: EventSourceMappingStatus): Promise<void> {
    await this.custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: 'eventsourcemappings', namespace, name, body: { status } },
      mergePatch,
    );
  }

  async setFinalizers(esm: EventSourceMappingResource, finalizers: string[]): Promise<void> {
    await this.custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        plural: 'eventsourcemappings',
        namespace: esm.metadata.namespace ?? '',
        name: esm.metadata.name ?? '',
        body: { metadata: { finalizers, resourceVersion: esm.metadata.resourceVersion } },
      },
      mergePatch,
    );
  }

  /** Enabled, valid queue and stream mappings (what has a backlog). */
  enabledMappings(): MappingConfig[] {
    const out: MappingConfig[] = [];
    for (const e of this.esms.list()) {
      if (e.metadata.deletionTimestamp) continue;
      try {
        const m = resolveMapping(e);
        if (m.enabled && m.source.kind !== 'schedule') out.push(m);
      } catch {
        // an invalid mapping never runs: no backlog of its own
      }
    }
    return out;
  }

  // WorkloadView
  workloads(): Workload[] {
    return this.deployments
      .list()
      .map((d) => this.workloadOf(d))
      .filter((w): w is Workload => w !== undefined);
  }

  private snapshot(ns: string, fn: string, version: string): FunctionResource['spec'] | undefined {
    return this.versions.list(ns).find((v) => v.spec.function === fn && v.spec.version === version)?.spec
      .snapshot;
  }

  private workloadOf(d: V1Deployment): Workload | undefined {
    const id = identify(d);
    if (!id) return undefined;
    const fn = this.functions.get(id.function, id.namespace);
    const spec = id.version === LATEST ? fn?.spec : this.snapshot(id.namespace, id.function, id.version);
    if (!fn || !spec) return undefined;
    return {
      ...id,
      replicas: d.spec?.replicas ?? 0,
      readyReplicas: d.status?.readyReplicas ?? 0,
      policy: policyOf(spec, fn.spec.concurrency?.reserved),
    };
  }

  /** NAME[:QUALIFIER] → versions: $LATEST, a number, or an alias (with its weighted second version). */
  readonly resolve: VersionResolver = (namespace, fn, qualifier) => {
    if (!qualifier || qualifier === LATEST) return [{ version: LATEST, weight: 1 }];
    if (/^[0-9]+$/.test(qualifier)) return [{ version: qualifier, weight: 1 }];
    const alias = this.aliases
      .list(namespace)
      .find((a) => a.spec.function === fn && (a.spec.name ?? a.metadata.name) === qualifier);
    if (!alias) return [];
    const extra = Object.entries(alias.spec.additionalVersionWeights ?? {});
    const extraWeight = extra.reduce((a, [, w]) => a + w, 0);
    return [
      { version: alias.spec.version, weight: Math.max(0, 1 - extraWeight) },
      ...extra.map(([version, weight]) => ({ version, weight })),
    ];
  };
}

/** Which function version a Deployment runs, from its labels. */
function identify(
  d: V1Deployment,
): Pick<Workload, 'namespace' | 'function' | 'version' | 'deployment'> | undefined {
  const md = d.metadata ?? {};
  const labels = md.labels ?? {};
  const fn = labels[LABELS.function];
  const label = labels[LABELS.version];
  if (!fn || !label || md.deletionTimestamp) return undefined;
  return {
    namespace: md.namespace ?? '',
    function: fn,
    version: label === LATEST_LABEL ? LATEST : label,
    deployment: md.name ?? '',
  };
}

/** A version's scaling settings with the schema's defaults; reserved concurrency is the function's. */
export function policyOf(spec: FunctionResource['spec'], reserved?: number): ScalingPolicy {
  const s = spec.scaling ?? {};
  return {
    minReplicas: s.minReplicas ?? 0,
    maxReplicas: s.maxReplicas ?? 20,
    concurrencyPerPod: s.concurrencyPerPod ?? 1,
    scaleToZeroAfterSeconds: s.scaleToZeroAfterSeconds ?? 300,
    ...(reserved !== undefined ? { reservedConcurrency: reserved } : {}),
  };
}
