import type { KubeConfig, KubernetesObject, KubernetesListObject } from '@kubernetes/client-node';
import {
  CustomObjectsApi,
  AppsV1Api,
  CoreV1Api,
  NetworkingV1Api,
  type V1Namespace,
} from '@kubernetes/client-node';
import type { Counter } from 'prom-client';
import { GROUP, VERSION } from '../api/schema.js';
import { LABELS, MANAGED_BY } from '../api/naming.js';
import type {
  AliasResource,
  EventSourceMappingResource,
  FunctionResource,
  FunctionVersionResource,
} from '../api/types.js';
import type { Logger } from '../lib/log.js';
import { startWatch, type RunningWatch } from '../lib/kube/watch.js';
import { makeKey, parseKey, WorkQueue } from './workqueue.js';
import type { Listers } from './kube/cached.js';
import type { FunctionReconciler } from './function/reconcile.js';
import type { AliasReconciler } from './alias/reconcile.js';
import type { NatsAccountReconciler } from './natsaccount/reconcile.js';

export interface ControllerDeps {
  kc: KubeConfig;
  log: Logger;
  functions: FunctionReconciler;
  aliases: AliasReconciler;
  /** NATS accounts per namespace (absent: the platform runs without them). */
  natsAccounts?: (caches: NatsCaches) => NatsAccountReconciler;
  reconcileTotal: Counter<'kind' | 'result'>;
  workers: number;
  resyncSeconds: number;
  /** Only this namespace when set; all namespaces when empty. */
  namespace: string;
  /** Where the reconcilers' cached Kube finds the watches' caches (controller/kube/cached.ts). */
  listers?: Listers;
}

/** The apiVersion of each watched kind, for the listers. */
const API_VERSIONS: Readonly<Record<string, string>> = {
  Function: `${GROUP}/${VERSION}`,
  FunctionVersion: `${GROUP}/${VERSION}`,
  Alias: `${GROUP}/${VERSION}`,
  LayerVersion: `${GROUP}/${VERSION}`,
  EventSourceMapping: `${GROUP}/${VERSION}`,
  Deployment: 'apps/v1',
  Pod: 'v1',
  ServiceAccount: 'v1',
  Service: 'v1',
  ConfigMap: 'v1',
  Namespace: 'v1',
  NetworkPolicy: 'networking.k8s.io/v1',
};

type Lister<T extends KubernetesObject> = () => Promise<KubernetesListObject<T>>;

/** What the NATS account reconciler reads from the controller's informers. */
export interface NatsCaches {
  namespace(name: string): V1Namespace | undefined;
  functions(namespace: string): FunctionResource[];
  mappings(namespace: string): EventSourceMappingResource[];
}

/**
 * Wiring only: informers on the kinds that affect a function feed one work queue keyed by
 * kind/namespace/name; every key of a Function drives FunctionReconciler (level-triggered), Alias
 * keys drive AliasReconciler. A periodic resync re-enqueues everything.
 */
export class Controller {
  private readonly queue: WorkQueue;
  private readonly informers: { kind: string; informer: RunningWatch<KubernetesObject> }[] = [];
  /** Called for every Function event besides its own key (the NATS accounts listen). */
  private readonly functionListeners: ((o: KubernetesObject) => void)[] = [];
  private resync: NodeJS.Timeout | undefined;
  private synced = false;
  private nats: NatsAccountReconciler | undefined;

  constructor(private readonly deps: ControllerDeps) {
    this.queue = new WorkQueue((key, log) => this.dispatch(key, log), deps.log, {
      workers: deps.workers,
      onResult: (key, result) => deps.reconcileTotal.inc({ kind: parseKey(key).kind, result }),
    });
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  private async dispatch(key: string, log: Logger): Promise<void> {
    const { kind, namespace, name } = parseKey(key);
    if (kind === 'Function') await this.deps.functions.reconcile(namespace, name, log);
    else if (kind === 'Alias') await this.deps.aliases.reconcile(namespace, name, log);
    else if (kind === 'NatsAccount') await this.nats?.reconcile(namespace, log);
    else if (kind === 'AliasesOf') {
      const aliases = this.informers.find((i) => i.kind === 'Alias')?.informer.list() ?? [];
      for (const a of aliases as AliasResource[]) {
        if (a.metadata.namespace === namespace && a.spec?.function === name)
          this.queue.add(makeKey('Alias', namespace, a.metadata.name ?? ''));
      }
    }
  }

  private fnKey(ns: string | undefined, fn: string | undefined): void {
    if (ns && fn) this.queue.add(makeKey('Function', ns, fn));
  }

  /** Enqueues the functions of a namespace that name a ServiceAccount as their (or a version's) role. */
  private functionsRunningAs(ns: string | undefined, sa: string | undefined): void {
    if (!ns || !sa) return;
    const list = (kind: string): readonly KubernetesObject[] =>
      this.informers.find((i) => i.kind === kind)?.informer.list(ns) ?? [];
    for (const f of list('Function') as readonly FunctionResource[])
      if (f.spec?.executionRole?.serviceAccountName === sa) this.fnKey(ns, f.metadata.name);
    for (const v of list('FunctionVersion') as readonly FunctionVersionResource[])
      if (v.spec?.snapshot?.executionRole?.serviceAccountName === sa) this.fnKey(ns, v.spec.function);
  }

  async start(): Promise<void> {
    const { kc, namespace } = this.deps;
    const custom = kc.makeApiClient(CustomObjectsApi);
    const apps = kc.makeApiClient(AppsV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    const ns = namespace ? `/namespaces/${namespace}` : '';
    const crList =
      (plural: string): Lister<KubernetesObject> =>
      () =>
        (namespace
          ? custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural })
          : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as Promise<
          KubernetesListObject<KubernetesObject>
        >;
    const managed = `${LABELS.managedBy}=${MANAGED_BY}`;

    this.watch(
      'Function',
      `/apis/${GROUP}/${VERSION}${ns}/functions`,
      crList('functions'),
      undefined,
      (o) => {
        this.fnKey(o.metadata?.namespace, o.metadata?.name);
        for (const f of this.functionListeners) f(o);
      },
    );
    this.watch(
      'FunctionVersion',
      `/apis/${GROUP}/${VERSION}${ns}/functionversions`,
      crList('functionversions'),
      undefined,
      (o) => {
        const v = o as FunctionVersionResource;
        this.fnKey(v.metadata.namespace, v.spec?.function);
        // Aliases pointing at a new version change their status.
        this.queue.add(makeKey('AliasesOf', v.metadata.namespace ?? '', v.spec?.function ?? ''));
      },
    );
    this.watch('Alias', `/apis/${GROUP}/${VERSION}${ns}/aliases`, crList('aliases'), undefined, (o) => {
      const a = o as AliasResource;
      this.fnKey(a.metadata.namespace, a.spec?.function);
      if (a.metadata.namespace && a.metadata.name)
        this.queue.add(makeKey('Alias', a.metadata.namespace, a.metadata.name));
    });
    // A layer version published (or deleted) unblocks (or blocks) the functions that name it.
    this.watch(
      'LayerVersion',
      `/apis/${GROUP}/${VERSION}${ns}/layerversions`,
      crList('layerversions'),
      undefined,
      (o) => this.functionsWithLayers(o.metadata?.namespace),
    );
    const byFunctionLabel = (o: KubernetesObject): void =>
      this.fnKey(o.metadata?.namespace, o.metadata?.labels?.[LABELS.function]);
    this.watch(
      'Deployment',
      `/apis/apps/v1${ns}/deployments`,
      () =>
        namespace
          ? apps.listNamespacedDeployment({ namespace, labelSelector: managed })
          : apps.listDeploymentForAllNamespaces({ labelSelector: managed }),
      managed,
      byFunctionLabel,
    );
    const podSel = `${LABELS.component}=function`;
    this.watch(
      'Pod',
      `/api/v1${ns}/pods`,
      () =>
        namespace
          ? core.listNamespacedPod({ namespace, labelSelector: podSel })
          : core.listPodForAllNamespaces({ labelSelector: podSel }),
      podSel,
      byFunctionLabel,
    );
    // An execution role granted or withdrawn (sluice.dev/execution-role) changes which pods may run.
    this.watch(
      'ServiceAccount',
      `/api/v1${ns}/serviceaccounts`,
      () =>
        namespace
          ? core.listNamespacedServiceAccount({ namespace })
          : core.listServiceAccountForAllNamespaces(),
      undefined,
      (o) => this.functionsRunningAs(o.metadata?.namespace, o.metadata?.name),
    );
    this.watchOwned(ns, managed);
    if (this.deps.natsAccounts) this.watchNatsAccounts(core, custom, ns);
    // Each watch retries on its own (with backoff) until its first list arrived.
    await Promise.all(this.informers.map((i) => i.informer.synced));
    this.synced = true;
    this.queue.start();
    // Every namespace with an account is looked at on start: its claims are pushed again when the
    // server lost them, and accounts of namespaces deleted meanwhile are removed.
    for (const n of (await this.nats?.known()) ?? []) this.queue.add(makeKey('NatsAccount', n, ''));
    this.resync = setInterval(() => this.resyncAll(), this.deps.resyncSeconds * 1000);
  }

  /**
   * What the function reconciler writes and reads back — Services, NetworkPolicies, ConfigMaps
   * (code it wrote, and code a function names) — routed to the owning function's key, always
   * in the object's own namespace.
   */
  private watchOwned(ns: string, managed: string): void {
    const { kc, namespace } = this.deps;
    const core = kc.makeApiClient(CoreV1Api);
    const net = kc.makeApiClient(NetworkingV1Api);
    const byFunctionLabel = (o: KubernetesObject): void =>
      this.fnKey(o.metadata?.namespace, o.metadata?.labels?.[LABELS.function]);
    this.watch(
      'Service',
      `/api/v1${ns}/services`,
      () =>
        namespace
          ? core.listNamespacedService({ namespace, labelSelector: managed })
          : core.listServiceForAllNamespaces({ labelSelector: managed }),
      managed,
      byFunctionLabel,
    );
    this.watch(
      'NetworkPolicy',
      `/apis/networking.k8s.io/v1${ns}/networkpolicies`,
      () =>
        namespace
          ? net.listNamespacedNetworkPolicy({ namespace, labelSelector: managed })
          : net.listNetworkPolicyForAllNamespaces({ labelSelector: managed }),
      managed,
      byFunctionLabel,
    );
    // Every ConfigMap: a function's spec.code.configMap may name any of its namespace's.
    this.watch(
      'ConfigMap',
      `/api/v1${ns}/configmaps`,
      () => (namespace ? core.listNamespacedConfigMap({ namespace }) : core.listConfigMapForAllNamespaces()),
      undefined,
      (o) => {
        if (o.metadata?.labels?.[LABELS.managedBy] === MANAGED_BY) byFunctionLabel(o);
        else this.functionsWithCode(o.metadata?.namespace, o.metadata?.name);
      },
    );
  }

  /** Enqueues the functions of a namespace whose code (or a version's) is the ConfigMap `cm`. */
  private functionsWithCode(ns: string | undefined, cm: string | undefined): void {
    if (!ns || !cm) return;
    for (const f of this.cached<FunctionResource>('Function', ns))
      if (f.spec?.code?.configMap?.name === cm) this.fnKey(ns, f.metadata.name);
    for (const v of this.cached<FunctionVersionResource>('FunctionVersion', ns))
      if (v.spec?.snapshot?.code?.configMap?.name === cm) this.fnKey(ns, v.spec.function);
  }

  /** Enqueues the functions of a namespace that use layers (any layer version there may be theirs). */
  private functionsWithLayers(ns: string | undefined): void {
    if (!ns) return;
    for (const f of this.cached<FunctionResource>('Function', ns))
      if (f.spec?.layers?.length) this.fnKey(ns, f.metadata.name);
    for (const v of this.cached<FunctionVersionResource>('FunctionVersion', ns))
      if (v.spec?.snapshot?.layers?.length) this.fnKey(ns, v.spec.function);
  }

  private cached<T extends KubernetesObject>(kind: string, namespace: string): T[] {
    const inf = this.informers.find((i) => i.kind === kind)?.informer;
    return ((inf?.list(namespace) ?? []) as T[]).filter((o) => o.metadata?.namespace === namespace);
  }

  /** Namespaces, mappings and functions decide which namespaces get a NATS account. */
  private watchNatsAccounts(core: CoreV1Api, custom: CustomObjectsApi, ns: string): void {
    const accountKey = (n: string | undefined): void => {
      if (n && (!this.deps.namespace || n === this.deps.namespace))
        this.queue.add(makeKey('NatsAccount', n, ''));
    };
    this.watch(
      'Namespace',
      '/api/v1/namespaces',
      () => core.listNamespace(),
      undefined,
      (o) => accountKey(o.metadata?.name),
    );
    const namespace = this.deps.namespace;
    this.watch(
      'EventSourceMapping',
      `/apis/${GROUP}/${VERSION}${ns}/eventsourcemappings`,
      () =>
        (namespace
          ? custom.listNamespacedCustomObject({
              group: GROUP,
              version: VERSION,
              namespace,
              plural: 'eventsourcemappings',
            })
          : custom.listClusterCustomObject({
              group: GROUP,
              version: VERSION,
              plural: 'eventsourcemappings',
            })) as Promise<KubernetesListObject<KubernetesObject>>,
      undefined,
      (o) => accountKey(o.metadata?.namespace),
    );
    this.functionListeners.push((o) => accountKey(o.metadata?.namespace));
    const nsInformer = this.informers.find((i) => i.kind === 'Namespace')?.informer;
    this.nats = this.deps.natsAccounts?.({
      namespace: (name) => nsInformer?.get(name),
      functions: (n) => this.cached<FunctionResource>('Function', n),
      mappings: (n) => this.cached<EventSourceMappingResource>('EventSourceMapping', n),
    });
  }

  /** Looks at every namespace's NATS account again (after NATS came back: it may have lost them). */
  resyncNatsAccounts(): void {
    if (!this.nats) return;
    const nsInformer = this.informers.find((i) => i.kind === 'Namespace')?.informer;
    for (const o of nsInformer?.list() ?? []) {
      const n = o.metadata?.name;
      if (n && (!this.deps.namespace || n === this.deps.namespace))
        this.queue.add(makeKey('NatsAccount', n, ''));
    }
    void this.nats
      .known()
      .then((names) => names.forEach((n) => this.queue.add(makeKey('NatsAccount', n, ''))));
  }

  private resyncAll(): void {
    this.resyncNatsAccounts();
    for (const { kind, informer } of this.informers) {
      if (kind !== 'Function' && kind !== 'Alias') continue;
      for (const o of informer.list()) {
        if (o.metadata?.namespace && o.metadata.name)
          this.queue.add(makeKey(kind, o.metadata.namespace, o.metadata.name));
      }
    }
  }

  private watch<T extends KubernetesObject>(
    kind: string,
    path: string,
    list: Lister<T>,
    labelSelector: string | undefined,
    onEvent: (o: T) => void,
  ): void {
    const inf = startWatch<T>({
      kc: this.deps.kc,
      path,
      list,
      ...(labelSelector !== undefined ? { labelSelector } : {}),
      handlers: { upsert: onEvent, remove: onEvent },
      log: this.deps.log,
    });
    this.informers.push({ kind, informer: inf });
    const apiVersion = API_VERSIONS[kind];
    if (apiVersion) this.deps.listers?.register(apiVersion, kind, inf);
  }

  async stop(): Promise<void> {
    clearInterval(this.resync);
    await Promise.all(this.informers.map((i) => i.informer.stop()));
    await this.queue.stop();
  }
}
