import {
  ApiException,
  AppsV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const code = (err: unknown): number | undefined => (err instanceof ApiException ? err.code : undefined);

/**
 * Replicas of a Deployment through its `scale` subresource — the one writer the gateway
 * (scale from zero), the poller (the autoscaler) and the controller (minReplicas) share. Each
 * writes with its own field manager, so the managed fields say who set the count.
 */
export class ScaleWriter {
  private readonly apps: AppsV1Api;

  constructor(
    kc: KubeConfig,
    private readonly fieldManager: string,
  ) {
    this.apps = kc.makeApiClient(AppsV1Api);
  }

  /** The Deployment's replica count; undefined when it does not exist. */
  async read(namespace: string, name: string): Promise<number | undefined> {
    try {
      const scale = await this.apps.readNamespacedDeploymentScale({ name, namespace });
      return scale.spec?.replicas ?? 0;
    } catch (err) {
      if (code(err) === 404) return undefined;
      throw err;
    }
  }

  /** Sets replicas unconditionally (a merge patch). */
  async set(namespace: string, name: string, replicas: number): Promise<void> {
    await this.apps.patchNamespacedDeploymentScale(
      { name, namespace, body: { spec: { replicas } }, fieldManager: this.fieldManager },
      mergePatch,
    );
  }

  /**
   * Sets replicas to `to` only if they are still `from` (a JSON patch whose `test` makes it
   * conditional), so a writer never overrides a decision another made in between. Returns
   * whether it applied.
   */
  async setIf(namespace: string, name: string, from: number, to: number): Promise<boolean> {
    try {
      await this.apps.patchNamespacedDeploymentScale({
        name,
        namespace,
        fieldManager: this.fieldManager,
        body: [
          { op: 'test', path: '/spec/replicas', value: from },
          { op: 'replace', path: '/spec/replicas', value: to },
        ],
      });
      return true;
    } catch (err) {
      const c = code(err);
      if (c === 422 || c === 409) return false; // someone else scaled it first
      throw err;
    }
  }
}
