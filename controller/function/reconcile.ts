import {
  ApiException,
  type V1Deployment,
  type V1Pod,
  type V1Service,
  type V1ConfigMap,
  type V1ServiceAccount,
} from '@kubernetes/client-node';
import { API_VERSION } from '../../api/schema.js';
import {
  ACTIVATE_ANNOTATION,
  LABELS,
  LATEST,
  MANAGED_BY,
  versionLabel,
  workloadName,
  workloadSelector,
} from '../../api/naming.js';
import { specHash } from '../../api/hash.js';
import type {
  AliasResource,
  FunctionResource,
  FunctionSpec,
  FunctionStatus,
  FunctionVersionResource,
  FunctionVersionStatus,
  LayerVersionResource,
} from '../../api/types.js';
import type { AddressCheck } from '../../api/destinations.js';
import type { Logger } from '../../lib/log.js';
import { canonicalJson } from '../../api/hash.js';
import { isAlreadyExists, type Kube } from '../kube/client.js';
import { appliedHash, stamped } from '../kube/cached.js';
import { setCondition } from '../../lib/kube/conditions.js';
import { destinationFunctions, destinationsCondition, type DestinationsCondition } from './destinations.js';
import { executionRoleBlocker, type Blocker } from './execution-role.js';
import { resolveLayers } from './layers.js';
import { peersBlocker } from './peers.js';
import { listVersions, ownerRef, publishVersion, versionNumber } from './publish.js';
import { makeCodeConfigMap } from './resources/configmap.js';
import { makeDeployment } from './resources/deployment.js';
import { makeNetworkPolicy } from './resources/networkpolicy.js';
import { makeInvokeTokenSecret } from './resources/secret.js';
import { makeService } from './resources/service.js';
import type { BuildOptions, VersionPlan } from './resources/types.js';

export interface FunctionReconcilerDeps {
  kube: Kube;
  opts: BuildOptions;
  /** Base URL of function URLs on the gateway (for status.url), e.g. http://sluice-gateway.sluice-system:8080. */
  gatewayUrl: string;
  /** The destination address rules with the cluster's ranges (default: the contract's defaults). */
  destinationAddresses?: AddressCheck;
}

/** The API server's message in a refusal. */
function apiMessage(err: ApiException<unknown>): string {
  try {
    return String((JSON.parse(String(err.body)) as { message?: string }).message ?? err.body);
  } catch {
    return String(err.body);
  }
}

/** A version that must run, and why. */
interface ActiveVersion {
  version: string;
  spec: FunctionSpec;
  hash: string;
}

const selectorOf = (labels: Record<string, string>): string =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/**
 * The versions that need pods: $LATEST, every version an alias points to (also through weights),
 * and versions whose snapshot asks for a minimum scale.
 */
export function activeVersions(
  fn: FunctionResource,
  versions: FunctionVersionResource[],
  aliases: AliasResource[],
): ActiveVersion[] {
  const byNumber = new Map(versions.map((v) => [v.spec.version, v]));
  const wanted = new Set<string>();
  for (const a of aliases) {
    for (const v of [a.spec.version, ...Object.keys(a.spec.additionalVersionWeights ?? {})]) {
      if (v !== LATEST) wanted.add(v);
    }
  }
  for (const v of versions) {
    if ((v.spec.snapshot.scaling?.minReplicas ?? 0) > 0) wanted.add(v.spec.version);
    // Invoked directly (the gateway asked for it): a Deployment the autoscaler can take to zero.
    if (v.metadata.annotations?.[ACTIVATE_ANNOTATION]) wanted.add(v.spec.version);
  }
  const out: ActiveVersion[] = [{ version: LATEST, spec: fn.spec, hash: specHash(fn.spec) }];
  for (const n of [...wanted].sort((a, b) => Number(a) - Number(b))) {
    const v = byNumber.get(n);
    if (v)
      out.push({ version: n, spec: v.spec.snapshot, hash: v.spec.codeSha256 ?? specHash(v.spec.snapshot) });
  }
  return out;
}

/** Why pods of a version cannot run, read from their container states. */
export function podProblem(pods: V1Pod[]): { reason: string; message: string } | undefined {
  const bad = new Set([
    'CrashLoopBackOff',
    'ErrImagePull',
    'ImagePullBackOff',
    'ErrImageNeverPull',
    'CreateContainerConfigError',
    'CreateContainerError',
    'InvalidImageName',
    'RunContainerError',
  ]);
  for (const pod of pods) {
    for (const cs of [
      ...(pod.status?.initContainerStatuses ?? []),
      ...(pod.status?.containerStatuses ?? []),
    ]) {
      const waiting = cs.state?.waiting;
      if (waiting?.reason && bad.has(waiting.reason)) {
        return {
          reason: waiting.reason,
          message: `pod ${pod.metadata?.name}: container ${cs.name}: ${waiting.message ?? waiting.reason}`,
        };
      }
    }
    const unschedulable = pod.status?.conditions?.find(
      (c) => c.type === 'PodScheduled' && c.status === 'False',
    );
    if (unschedulable)
      return {
        reason: 'Unschedulable',
        message: `pod ${pod.metadata?.name}: ${unschedulable.message ?? ''}`,
      };
  }
  return undefined;
}

/** The function's Ready condition from what blocks it and how many pods run. */
export function readyCondition(
  problem: { reason: string; message: string } | undefined,
  replicas: number,
  ready: number,
): { type: string; status: 'True' | 'False'; reason: string; message: string } {
  if (problem) return { type: 'Ready', status: 'False', ...problem };
  if (replicas === 0)
    return {
      type: 'Ready',
      status: 'True',
      reason: 'ScaledToZero',
      message: 'no pods run; the first invocation starts one',
    };
  if (ready > 0)
    return {
      type: 'Ready',
      status: 'True',
      reason: 'Running',
      message: `${ready} of ${replicas} pods ready`,
    };
  return {
    type: 'Ready',
    status: 'False',
    reason: 'Deploying',
    message: `waiting for pods: 0 of ${replicas} ready`,
  };
}

/**
 * `Updated` (Lambda's LastUpdateStatus): True once $LATEST's pods all run the current spec — the
 * Deployment has seen its latest template, every pod is of it and no old pod is left — so calls
 * to $LATEST see the last change. False while that rollout is in progress.
 */
export function updatedCondition(d: V1Deployment | undefined): {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
} {
  const type = 'Updated';
  if (!d)
    return {
      type,
      status: 'False',
      reason: 'Pending',
      message: 'the Deployment of $LATEST is not created yet',
    };
  const replicas = d.spec?.replicas ?? 0;
  const st = d.status ?? {};
  if ((st.observedGeneration ?? 0) < (d.metadata?.generation ?? 0))
    return {
      type,
      status: 'False',
      reason: 'RollingOut',
      message: 'the new pod template is not rolled out yet',
    };
  const updated = st.updatedReplicas ?? 0;
  const running = st.replicas ?? 0;
  if (updated < replicas || running > updated)
    return {
      type,
      status: 'False',
      reason: 'RollingOut',
      message: `${updated} of ${replicas} pods run the current spec; ${Math.max(0, running - updated)} old pods left`,
    };
  return { type, status: 'True', reason: 'Updated', message: 'every pod of $LATEST runs the current spec' };
}

export class FunctionReconciler {
  constructor(private readonly deps: FunctionReconcilerDeps) {}

  async reconcile(namespace: string, name: string, log: Logger): Promise<void> {
    const { kube } = this.deps;
    const fn = await kube.get<FunctionResource>(API_VERSION, 'Function', namespace, name);
    // Deleted: owner references let the garbage collector remove what the function owned.
    if (!fn || fn.metadata.deletionTimestamp) return;
    const owner = ownerRef(fn);

    if (fn.spec.versioning?.autoPublish) {
      const { version, created } = await publishVersion(kube, fn);
      if (created) {
        log.info({ version: version.spec.version }, 'published version');
        await this.event(fn, 'Normal', 'VersionPublished', `published version ${version.spec.version}`);
      }
    }
    const versions = await listVersions(kube, namespace, name);
    const aliases = (await kube.list<AliasResource>(API_VERSION, 'Alias', namespace)).filter(
      (a) => a.spec.function === name,
    );
    const active = activeVersions(fn, versions, aliases);
    const problems: { reason: string; message: string }[] = [];
    // Before any pod that mounts it: the token sluice-runtime expects from the gateway.
    const tokenProblem = await this.writeInvokeToken(namespace, name, owner);
    if (tokenProblem) problems.push(tokenProblem);

    const deployments = new Map<string, V1Deployment>();
    const blocked = new Map<string, Blocker>();
    const codeMaps = new Set<string>();
    const accounts = new Map<string, V1ServiceAccount | undefined>();
    for (const a of active) {
      const plan: VersionPlan = {
        namespace,
        functionName: name,
        version: a.version,
        spec: a.spec,
        specHash: a.hash,
        owner,
      };
      if (a.spec.code.inline !== undefined) {
        const cm = makeCodeConfigMap(namespace, name, a.spec.code.inline, owner);
        plan.codeConfigMap = cm.metadata?.name;
        codeMaps.add(cm.metadata?.name ?? '');
        await this.ensureCodeConfigMap(cm);
      }
      problems.push(...(await this.missingDependencies(namespace, a.spec)));
      const blocker = await this.versionBlocker(plan, a.version, a.spec, accounts);
      if (blocker) {
        // Never run pods as an identity, or with peers, the function may not have: none rather than those.
        problems.push(blocker);
        blocked.set(a.version, blocker);
        if (await kube.delete('apps/v1', 'Deployment', namespace, workloadName(name, a.version)))
          log.info(
            { version: a.version, reason: blocker.reason },
            'removed the deployment of a blocked version',
          );
      } else deployments.set(a.version, await this.applyDeployment(plan, a.spec, log));
      await kube.apply<V1Service>(makeService(plan));
    }
    await kube.apply(makeNetworkPolicy(namespace, name, fn.spec, owner, this.deps.opts));
    await this.prune(namespace, name, new Set(active.map((a) => versionLabel(a.version))), codeMaps, log);

    const latest = deployments.get(LATEST);
    const pods = await kube.list<V1Pod>('v1', 'Pod', namespace, selectorOf(workloadSelector(name, LATEST)));
    const podIssue = podProblem(pods);
    if (podIssue) problems.push(podIssue);
    await this.writeStatus(fn, versions, latest, problems, await this.destinations(fn));
    await this.writeVersionStatuses(versions, active, deployments, blocked);
  }

  /** The DestinationsValid condition: the contract, and whether `function:` destinations exist. */
  private async destinations(fn: FunctionResource): Promise<DestinationsCondition> {
    const ns = fn.metadata.namespace ?? 'default';
    const check = this.deps.destinationAddresses;
    const existing = new Set<string>();
    for (const name of destinationFunctions(fn.spec, check)) {
      if (await this.deps.kube.get<FunctionResource>(API_VERSION, 'Function', ns, name)) existing.add(name);
    }
    return destinationsCondition(fn.spec, (name) => existing.has(name), check);
  }

  private async event(
    obj: FunctionResource,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    await this.deps.kube.event({ involved: obj, type, reason, message }).catch(() => undefined);
  }

  private async ensureCodeConfigMap(cm: V1ConfigMap): Promise<void> {
    const { kube } = this.deps;
    const existing = await kube.get<V1ConfigMap>(
      'v1',
      'ConfigMap',
      cm.metadata?.namespace ?? '',
      cm.metadata?.name ?? '',
    );
    // Content-hashed and immutable: if it exists, it holds this code.
    if (existing) return;
    try {
      await kube.create(cm);
    } catch (err) {
      // Created meanwhile (by an earlier reconcile the cache has not seen yet): the same code.
      if (!isAlreadyExists(err)) throw err;
    }
  }

  /**
   * Why a version may not run (layers missing, an execution role it may not use, peers it may not
   * name), or undefined; resolves its layers' package digests into the plan on the way.
   */
  private async versionBlocker(
    plan: VersionPlan,
    version: string,
    spec: FunctionSpec,
    accounts: Map<string, V1ServiceAccount | undefined>,
  ): Promise<Blocker | undefined> {
    const { namespace } = plan;
    const { kube } = this.deps;
    const layers = await resolveLayers(
      (v, k, n, o) => kube.get<LayerVersionResource>(v, k, n, o),
      namespace,
      spec,
      version === LATEST ? 'spec.layers' : `version ${version}: spec.snapshot.layers`,
    );
    if ('digests' in layers) plan.layerDigests = layers.digests;
    return (
      ('reason' in layers ? layers : undefined) ??
      (await this.roleBlocker(namespace, version, spec, accounts)) ??
      peersBlocker(
        namespace,
        spec,
        this.deps.opts.peerPolicy,
        version === LATEST ? 'spec.network.peers' : `version ${version}: spec.snapshot.network.peers`,
      )
    );
  }

  private async missingDependencies(
    namespace: string,
    spec: FunctionSpec,
  ): Promise<{ reason: string; message: string }[]> {
    const { kube } = this.deps;
    const out: { reason: string; message: string }[] = [];
    if (spec.code.configMap) {
      const cm = await kube.get<V1ConfigMap>('v1', 'ConfigMap', namespace, spec.code.configMap.name);
      if (!cm)
        out.push({
          reason: 'CodeConfigMapNotFound',
          message: `spec.code.configMap: ConfigMap ${namespace}/${spec.code.configMap.name} does not exist`,
        });
    }
    return out;
  }

  /**
   * Writes the function's invoke-token Secret. A Secret of that name the controller did not make
   * (the admission policy refuses to overwrite it) is reported in Ready, not retried forever.
   */
  private async writeInvokeToken(
    namespace: string,
    name: string,
    owner: ReturnType<typeof ownerRef>,
  ): Promise<Blocker | undefined> {
    const key = this.deps.opts.invokeKey;
    if (!key) return undefined;
    const secret = makeInvokeTokenSecret(namespace, name, key, owner);
    try {
      await this.deps.kube.apply(secret);
      return undefined;
    } catch (err) {
      if (!(err instanceof ApiException) || ![403, 409, 422].includes(err.code)) throw err;
      return {
        reason: 'InvokeTokenNotWritable',
        message: `Secret ${namespace}/${secret.metadata?.name} holds this function's invoke token but cannot be written (${apiMessage(err)}); a Secret of that name that Sluice did not create must be removed`,
      };
    }
  }

  /** Whether a version may run as its execution role (ServiceAccounts read once per reconcile). */
  private async roleBlocker(
    namespace: string,
    version: string,
    spec: FunctionSpec,
    accounts: Map<string, V1ServiceAccount | undefined>,
  ): Promise<Blocker | undefined> {
    const role = spec.executionRole?.serviceAccountName;
    if (role === undefined) return undefined;
    if (!accounts.has(role))
      accounts.set(role, await this.deps.kube.get<V1ServiceAccount>('v1', 'ServiceAccount', namespace, role));
    const field =
      version === LATEST
        ? 'spec.executionRole.serviceAccountName'
        : `version ${version}: spec.snapshot.executionRole.serviceAccountName`;
    return executionRoleBlocker(namespace, role, accounts.get(role), field);
  }

  /**
   * Creates the Deployment with the initial replica count (minReplicas); afterwards applies
   * everything but replicas, which the scaler owns — raised only up to minReplicas.
   */
  private async applyDeployment(plan: VersionPlan, spec: FunctionSpec, log: Logger): Promise<V1Deployment> {
    const { kube, opts } = this.deps;
    const min = spec.scaling?.minReplicas ?? 0;
    const desired = makeDeployment(plan, opts, min);
    const existing = await kube.get<V1Deployment>(
      'apps/v1',
      'Deployment',
      plan.namespace,
      desired.metadata?.name ?? '',
    );
    // What is applied: everything but replicas, which the scaler owns. The create carries the
    // same hash, so the reconcile after it finds nothing to apply.
    const applyForm: V1Deployment = { ...desired, spec: { ...desired.spec } as V1Deployment['spec'] };
    if (applyForm.spec) delete (applyForm.spec as { replicas?: number }).replicas;
    const hash = appliedHash(applyForm);
    if (!existing) {
      log.info({ deployment: desired.metadata?.name, replicas: min }, 'creating deployment');
      try {
        return await kube.create(stamped(desired, hash));
      } catch (err) {
        // It exists after all (the cache had not seen it yet): apply, and leave replicas alone.
        if (!isAlreadyExists(err)) throw err;
        return kube.apply(applyForm);
      }
    }
    const applied = await kube.apply(applyForm);
    if ((existing.spec?.replicas ?? 0) < min) {
      await kube.setScale(plan.namespace, desired.metadata?.name ?? '', min);
    }
    return applied;
  }

  /** Removes workloads of versions that are no longer active, and code ConfigMaps no version uses. */
  private async prune(
    namespace: string,
    name: string,
    activeLabels: Set<string>,
    codeMaps: Set<string>,
    log: Logger,
  ): Promise<void> {
    const { kube } = this.deps;
    const sel = `${LABELS.function}=${name},${LABELS.managedBy}=${MANAGED_BY}`;
    for (const [apiVersion, kind] of [
      ['apps/v1', 'Deployment'],
      ['v1', 'Service'],
    ] as const) {
      for (const obj of await kube.list<V1Deployment | V1Service>(apiVersion, kind, namespace, sel)) {
        const v = obj.metadata?.labels?.[LABELS.version];
        if (v !== undefined && !activeLabels.has(v)) {
          log.info({ kind, name: obj.metadata?.name }, 'removing inactive version');
          await kube.delete(apiVersion, kind, namespace, obj.metadata?.name ?? '');
        }
      }
    }
    for (const cm of await kube.list<V1ConfigMap>(
      'v1',
      'ConfigMap',
      namespace,
      `${sel},${LABELS.component}=code`,
    )) {
      if (!codeMaps.has(cm.metadata?.name ?? ''))
        await kube.delete('v1', 'ConfigMap', namespace, cm.metadata?.name ?? '');
    }
  }

  private async writeStatus(
    fn: FunctionResource,
    versions: FunctionVersionResource[],
    latest: V1Deployment | undefined,
    problems: { reason: string; message: string }[],
    destinations: DestinationsCondition,
  ): Promise<void> {
    const gen = fn.metadata.generation;
    const replicas = latest?.spec?.replicas ?? 0;
    const ready = latest?.status?.readyReplicas ?? 0;
    const problem = problems[0];
    const conditions = setCondition(
      setCondition(
        setCondition(fn.status?.conditions, readyCondition(problem, replicas, ready), gen),
        updatedCondition(latest),
        gen,
      ),
      destinations,
      gen,
    );
    const highest = versions[0];
    const ns = fn.metadata.namespace ?? 'default';
    const status: FunctionStatus = {
      ...fn.status,
      conditions,
      observedGeneration: gen,
      codeSha256: specHash(fn.spec),
      replicas,
      readyReplicas: ready,
      replicaSummary: `${ready}/${replicas}`,
      url: `${this.deps.gatewayUrl}/url/${ns}/${fn.metadata.name}/`,
      ...(highest ? { latestVersion: String(versionNumber(highest)) } : {}),
    };
    if (canonicalJson(status) === canonicalJson(fn.status ?? {})) return;
    await this.warnOnTransitions(fn, problem, destinations);
    await this.deps.kube.patchStatus('functions', ns, fn.metadata.name ?? '', status);
  }

  /** A Warning event when a problem (Ready) or an invalid destination is new. */
  private async warnOnTransitions(
    fn: FunctionResource,
    problem: { reason: string; message: string } | undefined,
    destinations: DestinationsCondition,
  ): Promise<void> {
    const reasonOf = (type: string): string | undefined =>
      fn.status?.conditions?.find((c) => c.type === type)?.reason;
    if (problem && reasonOf('Ready') !== problem.reason) {
      await this.event(fn, 'Warning', problem.reason, problem.message);
    }
    if (destinations.status === 'False' && reasonOf(destinations.type) !== destinations.reason) {
      await this.event(fn, 'Warning', destinations.reason, destinations.message);
    }
  }

  private async writeVersionStatuses(
    versions: FunctionVersionResource[],
    active: ActiveVersion[],
    deployments: Map<string, V1Deployment>,
    blocked: Map<string, Blocker>,
  ): Promise<void> {
    for (const v of versions) {
      const isActive = active.some((a) => a.version === v.spec.version);
      const d = deployments.get(v.spec.version);
      const replicas = d?.spec?.replicas ?? 0;
      const ready = d?.status?.readyReplicas ?? 0;
      const blocker = blocked.get(v.spec.version);
      const conditions = setCondition(
        v.status?.conditions,
        blocker
          ? { type: 'Ready', status: 'False', ...blocker }
          : isActive
            ? {
                type: 'Ready',
                status: 'True',
                reason: ready > 0 ? 'Running' : 'ScaledToZero',
                message: `${ready} of ${replicas} pods ready`,
              }
            : {
                type: 'Ready',
                status: 'True',
                reason: 'Inactive',
                message: 'published; no alias points to it, so no pods run',
              },
        v.metadata.generation,
      );
      const status: FunctionVersionStatus = {
        conditions,
        observedGeneration: v.metadata.generation,
        active: isActive,
        replicas,
        readyReplicas: ready,
      };
      if (canonicalJson(status) === canonicalJson(v.status ?? {})) continue;
      await this.deps.kube.patchStatus(
        'functionversions',
        v.metadata.namespace ?? 'default',
        v.metadata.name ?? '',
        status,
      );
    }
  }
}

export { workloadName };
