import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import type { Scaler, WorkloadStatus } from './activator.js';
import { ACTIVATE_ANNOTATION, functionVersionName, LABELS } from '../../api/naming.js';
import { GROUP, VERSION } from '../../api/schema.js';
import { ScaleWriter } from '../../lib/kube/scale.js';

/** Container states that mean the pod will not become ready without a change to the function. */
const FATAL_WAITING = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** Why a Deployment cannot make progress, from its conditions. */
export function deploymentFailure(d: V1Deployment): string | undefined {
  for (const c of d.status?.conditions ?? []) {
    if (c.type === 'ReplicaFailure' && c.status === 'True')
      return `${c.reason ?? 'ReplicaFailure'}: ${c.message ?? ''}`;
    if (c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded') {
      return `ProgressDeadlineExceeded: ${c.message ?? ''}`;
    }
  }
  return undefined;
}

/** Why a pod cannot start, from its containers' states (init containers included). */
export function podFailure(p: V1Pod): string | undefined {
  const statuses = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
  for (const s of statuses) {
    const w = s.state?.waiting;
    if (w?.reason && FATAL_WAITING.has(w.reason)) {
      return `${w.reason} (container ${s.name}): ${w.message ?? s.lastState?.terminated?.reason ?? ''}`.trim();
    }
  }
  if (p.status?.phase === 'Failed') return `pod ${p.metadata?.name ?? ''} failed: ${p.status.reason ?? ''}`;
  return undefined;
}

/** Scale from zero through the Deployment's `scale` subresource. */
export class KubeScaler implements Scaler {
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly scale: ScaleWriter;

  constructor(kc: KubeConfig) {
    this.scale = new ScaleWriter(kc, 'sluice-gateway');
    this.apps = kc.makeApiClient(AppsV1Api);
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  async scaleFromZero(namespace: string, name: string, selector?: Record<string, string>): Promise<boolean> {
    const replicas = await this.scale.read(namespace, name);
    if (replicas === undefined) {
      await this.activateVersion(namespace, selector);
      return false;
    }
    if (replicas !== 0) return false;
    // Conditional: it applies only if replicas are still 0, so the gateway never overrides a
    // decision the autoscaler made in between.
    return this.scale.setIf(namespace, name, 0, 1);
  }

  /**
   * A published version no alias points to has no Deployment; invoking it asks the controller
   * for one by annotating the FunctionVersion (sluice.dev/activate), as Lambda runs any version.
   */
  private async activateVersion(
    namespace: string,
    selector: Record<string, string> | undefined,
  ): Promise<void> {
    const fn = selector?.[LABELS.function];
    const version = selector?.[LABELS.version];
    if (!fn || !version || !/^[1-9][0-9]*$/.test(version)) return;
    try {
      await this.custom.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          namespace,
          plural: 'functionversions',
          name: functionVersionName(fn, version),
          body: { metadata: { annotations: { [ACTIVATE_ANNOTATION]: new Date().toISOString() } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
  }

  async status(namespace: string, name: string, selector: Record<string, string>): Promise<WorkloadStatus> {
    let d: V1Deployment;
    try {
      d = await this.apps.readNamespacedDeployment({ name, namespace });
    } catch (err) {
      if (statusCode(err) === 404) return { exists: false, replicas: 0 };
      throw err;
    }
    const replicas = d.spec?.replicas ?? 0;
    const failure = deploymentFailure(d);
    if (failure) return { exists: true, replicas, failure };
    const labelSelector = Object.entries(selector)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const pods = await this.core.listNamespacedPod({ namespace, labelSelector });
    const live = pods.items.filter((p) => !p.metadata?.deletionTimestamp);
    // Only when every pod is failing does the function "not start"; one healthy pod may still come up.
    const failures = live.map(podFailure);
    if (live.length > 0 && failures.every((f) => f !== undefined)) {
      return { exists: true, replicas, failure: failures[0] };
    }
    return { exists: true, replicas };
  }
}
