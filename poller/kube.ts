import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  makeInformer,
  V1MicroTime,
  PatchStrategy,
  setHeaderOptions,
  type Informer,
  type KubeConfig,
  type KubernetesObject,
  type ObjectCache,
  type V1Deployment,
  type V1EndpointSlice,
  type V1Lease,
} from '@kubernetes/client-node';
import { LABELS, LATEST, LATEST_LABEL } from '../api/naming.js';
import type {
  AliasResource,
  EventSourceMappingResource,
  EventSourceMappingStatus,
  FunctionResource,
  FunctionVersionResource,
} from '../api/types.js';
import type { Logger } from '../lib/log.js';
import type { ScaleTarget, Workload, WorkloadView } from './autoscaler/autoscaler.js';
import type { Decision, ScalingPolicy } from './autoscaler/decide.js';
import type { VersionResolver } from './autoscaler/demand.js';
import type { GatewayEndpoints } from './autoscaler/inflight.js';
import { resolveMapping, type MappingConfig } from './mapping.js';
import { LeaseConflictError, type LeaseKind, type LeaseRecord, type LeaseStore } from './work/leases.js';
import type { MappingApi } from './work/manager.js';

export const FIELD_MANAGER = 'sluice-poller';
const GROUP = 'sluice.dev';
const VERSION = 'v1alpha1';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

const code = (err: unknown): number | undefined => (err instanceof ApiException ? err.code : undefined);

/** Leases in the poller's namespace, labelled by kind. */
export class KubeLeaseStore implements LeaseStore {
  private readonly api: CoordinationV1Api;

  constructor(
    kc: KubeConfig,
    private readonly namespace: string,
  ) {
    this.api = kc.makeApiClient(CoordinationV1Api);
  }

  private toRecord(l: V1Lease): LeaseRecord {
    return {
      name: l.metadata?.name ?? '',
      kind: (l.metadata?.labels?.['sluice.dev/lease-kind'] ?? 'mapping') as LeaseKind,
      ...(l.spec?.holderIdentity ? { holder: l.spec.holderIdentity } : {}),
      ...(l.spec?.renewTime ? { renewTime: new Date(l.spec.renewTime).getTime() } : {}),
      durationSeconds: l.spec?.leaseDurationSeconds ?? 15,
      transitions: l.spec?.leaseTransitions ?? 0,
      ...(l.metadata?.resourceVersion ? { version: l.metadata.resourceVersion } : {}),
    };
  }

  private toLease(r: LeaseRecord): V1Lease {
    return {
      metadata: {
        name: r.name,
        namespace: this.namespace,
        labels: { 'app.kubernetes.io/name': 'sluice-poller', 'sluice.dev/lease-kind': r.kind },
        ...(r.version ? { resourceVersion: r.version } : {}),
      },
      spec: {
        holderIdentity: r.holder ?? '',
        leaseDurationSeconds: r.durationSeconds,
        leaseTransitions: r.transitions,
        // MicroTime: the API server wants microseconds (a plain Date serializes milliseconds: 400).
        ...(r.renewTime ? { renewTime: new V1MicroTime(r.renewTime) } : {}),
      },
    };
  }

  async get(name: string): Promise<LeaseRecord | undefined> {
    try {
      return this.toRecord(await this.api.readNamespacedLease({ name, namespace: this.namespace }));
    } catch (err) {
      if (code(err) === 404) return undefined;
      throw err;
    }
  }

  async create(rec: LeaseRecord): Promise<LeaseRecord> {
    try {
      return this.toRecord(
        await this.api.createNamespacedLease({ namespace: this.namespace, body: this.toLease(rec) }),
      );
    } catch (err) {
      if (code(err) === 409) throw new LeaseConflictError(`lease ${rec.name} exists`, { cause: err });
      throw err;
    }
  }

  async update(rec: LeaseRecord): Promise<LeaseRecord> {
    try {
      return this.toRecord(
        await this.api.replaceNamespacedLease({
          name: rec.name,
          namespace: this.namespace,
          body: this.toLease(rec),
        }),
      );
    } catch (err) {
      if (code(err) === 409 || code(err) === 404)
        throw new LeaseConflictError(`lease ${rec.name} changed`, { cause: err });
      throw err;
    }
  }

  async list(kind: LeaseKind): Promise<LeaseRecord[]> {
    const res = await this.api.listNamespacedLease({
      namespace: this.namespace,
      labelSelector: `app.kubernetes.io/name=sluice-poller,sluice.dev/lease-kind=${kind}`,
    });
    return res.items.map((l) => this.toRecord(l));
  }

  async delete(name: string): Promise<void> {
    try {
      await this.api.deleteNamespacedLease({ name, namespace: this.namespace });
    } catch (err) {
      if (code(err) !== 404) throw err;
    }
  }
}

type Cache<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

/**
 * The cluster as the poller sees it, through informers: EventSourceMappings (work), Functions,
 * FunctionVersions and Aliases (scaling policies and qualifier resolution) and the Deployments
 * of function versions (what to scale).
 */
export class KubeWorld implements MappingApi, WorkloadView {
  private readonly custom: CustomObjectsApi;
  private readonly apps: AppsV1Api;
  private readonly esms: Cache<EventSourceMappingResource>;
  private readonly functions: Cache<FunctionResource>;
  private readonly versions: Cache<FunctionVersionResource>;
  private readonly aliases: Cache<AliasResource>;
  private readonly deployments: Cache<V1Deployment>;
  private readonly listeners: (() => void)[] = [];
  private stopped = false;
  synced = false;

  constructor(
    kc: KubeConfig,
    private readonly log: Logger,
  ) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.apps = kc.makeApiClient(AppsV1Api);
    const crd = <T extends KubernetesObject>(plural: string): Cache<T> =>
      makeInformer<T>(kc, `/apis/${GROUP}/${VERSION}/${plural}`, () =>
        this.custom.listClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural,
        }),
      );
    this.esms = crd<EventSourceMappingResource>('eventsourcemappings');
    this.functions = crd<FunctionResource>('functions');
    this.versions = crd<FunctionVersionResource>('functionversions');
    this.aliases = crd<AliasResource>('aliases');
    const selector = `${LABELS.component}=function,${LABELS.managedBy}=sluice-controller`;
    this.deployments = makeInformer<V1Deployment>(
      kc,
      '/apis/apps/v1/deployments',
      () =>
        this.apps.listDeploymentForAllNamespaces({
          labelSelector: selector,
        }),
      selector,
    );
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
    this.esms.on('add', (e) => changed(e, false));
    this.esms.on('update', (e) => changed(e, false));
    this.esms.on('delete', (e) => changed(e, true));
  }

  /** Calls `f` whenever a mapping changes. */
  onMappingChange(f: () => void): void {
    this.listeners.push(f);
  }

  async start(): Promise<void> {
    const all: Cache<KubernetesObject>[] = [
      this.esms,
      this.functions,
      this.versions,
      this.aliases,
      this.deployments,
    ];
    for (const inf of all) {
      inf.on('error', (err: unknown) => {
        this.log.warn({ err }, 'watch failed; restarting');
        setTimeout(() => {
          if (!this.stopped) void inf.start().catch(() => undefined);
        }, 2000);
      });
    }
    await Promise.all(all.map((i) => i.start()));
    this.synced = true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled(
      [this.esms, this.functions, this.versions, this.aliases, this.deployments].map((i) => i.stop()),
    );
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

/** Writes replicas through the Deployment's scale subresource and notes the decision in an annotation. */
export class KubeScaleTarget implements ScaleTarget {
  private readonly apps: AppsV1Api;

  constructor(kc: KubeConfig) {
    this.apps = kc.makeApiClient(AppsV1Api);
  }

  async scale(w: Workload, replicas: number, d: Decision): Promise<void> {
    await this.apps.patchNamespacedDeploymentScale(
      {
        name: w.deployment,
        namespace: w.namespace,
        body: { spec: { replicas } },
        fieldManager: FIELD_MANAGER,
      },
      mergePatch,
    );
    const note = JSON.stringify({
      at: new Date().toISOString(),
      from: w.replicas,
      to: replicas,
      reason: d.reason,
    });
    await this.apps
      .patchNamespacedDeployment(
        {
          name: w.deployment,
          namespace: w.namespace,
          body: { metadata: { annotations: { 'sluice.dev/scale-decision': note } } },
          fieldManager: FIELD_MANAGER,
        },
        mergePatch,
      )
      .catch(() => undefined); // the annotation is a courtesy; the scale is what counts
  }
}

/** Ready gateway pods, from the EndpointSlices of the gateway Service. */
export class KubeGatewayEndpoints implements GatewayEndpoints {
  private readonly slices: Cache<V1EndpointSlice>;

  constructor(kc: KubeConfig, namespace: string, service: string, log: Logger) {
    const api = kc.makeApiClient(DiscoveryV1Api);
    const labelSelector = `kubernetes.io/service-name=${service}`;
    this.slices = makeInformer<V1EndpointSlice>(
      kc,
      `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
      () =>
        api.listNamespacedEndpointSlice({
          namespace,
          labelSelector,
        }),
      labelSelector,
    );
    this.slices.on('error', (err: unknown) => {
      log.warn({ err }, 'gateway endpoint watch failed; restarting');
      setTimeout(() => void this.slices.start().catch(() => undefined), 2000);
    });
  }

  start(): Promise<void> {
    return this.slices.start();
  }

  stop(): Promise<void> {
    return this.slices.stop();
  }

  urls(): string[] {
    return gatewayUrls(this.slices.list());
  }
}

/** `http://IP:PORT` of every ready endpoint (the port named http, else the first). */
export function gatewayUrls(slices: readonly V1EndpointSlice[]): string[] {
  const out = new Set<string>();
  for (const s of slices) {
    const port = (s.ports ?? []).find((p) => p.name === 'http') ?? s.ports?.[0];
    if (!port?.port) continue;
    for (const e of s.endpoints ?? []) {
      if (e.conditions?.ready === false) continue;
      for (const a of e.addresses.slice(0, 1))
        out.add(`http://${a.includes(':') ? `[${a}]` : a}:${port.port}`);
    }
  }
  return [...out].sort();
}
