import { AppsV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { ScaleWriter } from '../lib/kube/scale.js';
import type { ScaleTarget, Workload } from './autoscaler/autoscaler.js';
import type { Decision } from './autoscaler/decide.js';

export const FIELD_MANAGER = 'sluice-poller';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Writes replicas through the Deployment's scale subresource and notes the decision in an annotation. */
export class KubeScaleTarget implements ScaleTarget {
  private readonly apps: AppsV1Api;
  private readonly writer: ScaleWriter;

  constructor(kc: KubeConfig) {
    this.apps = kc.makeApiClient(AppsV1Api);
    this.writer = new ScaleWriter(kc, FIELD_MANAGER);
  }

  async scale(w: Workload, replicas: number, d: Decision): Promise<void> {
    await this.writer.set(w.namespace, w.deployment, replicas);
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
