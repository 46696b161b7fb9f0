import {
  ApiException,
  KubernetesObjectApi,
  PatchStrategy,
  CustomObjectsApi,
  CoreV1Api,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { ScaleWriter } from '../../lib/kube/scale.js';

export const FIELD_MANAGER = 'sluice-controller';

/** The narrow view of the API server the reconcilers use; tests run it against a real API server. */
export interface Kube {
  get<T extends KubernetesObject>(
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string,
  ): Promise<T | undefined>;
  list<T extends KubernetesObject>(
    apiVersion: string,
    kind: string,
    namespace: string,
    labelSelector?: string,
  ): Promise<T[]>;
  create<T extends KubernetesObject>(obj: T): Promise<T>;
  /** Server-side apply with the controller's field manager (force: the controller owns its fields). */
  apply<T extends KubernetesObject>(obj: T): Promise<T>;
  delete(apiVersion: string, kind: string, namespace: string, name: string): Promise<boolean>;
  /** JSON merge patch (RFC 7386: null removes a key); creates `obj` first when it does not exist. */
  mergePatch<T extends KubernetesObject>(obj: T, patch: object): Promise<void>;
  /** Merge-patches labels onto an existing object (one gone meanwhile is left gone). */
  label(obj: KubernetesObject, labels: Record<string, string>): Promise<void>;
  /** Merge-patches the status subresource of a custom resource. */
  patchStatus(plural: string, namespace: string, name: string, status: unknown): Promise<void>;
  /** Replicas of a Deployment through its scale subresource. */
  setScale(namespace: string, name: string, replicas: number): Promise<void>;
  event(e: KubeEvent): Promise<void>;
  /**
   * The API server itself, where this Kube reads from caches: for the few reads that must be
   * current (the next version number before publishing). Absent: this Kube reads the API server.
   */
  live?: Kube;
}

export interface KubeEvent {
  involved: KubernetesObject;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

export function isConflict(err: unknown): boolean {
  return (
    err instanceof ApiException &&
    (err.code === 409 || err.code === 422) &&
    /AlreadyExists|already exists|conflict/i.test(String(err.body))
  );
}

export function isAlreadyExists(err: unknown): boolean {
  return err instanceof ApiException && err.code === 409;
}

export function makeKube(kc: KubeConfig, group = 'sluice.dev', version = 'v1alpha1'): Kube {
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const scale = new ScaleWriter(kc, FIELD_MANAGER);
  return {
    async get<T extends KubernetesObject>(apiVersion: string, kind: string, namespace: string, name: string) {
      try {
        return await objects.read<T>({ apiVersion, kind, metadata: { namespace, name } });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async list<T extends KubernetesObject>(
      apiVersion: string,
      kind: string,
      namespace: string,
      labelSelector?: string,
    ) {
      const out = await objects.list<T>(
        apiVersion,
        kind,
        namespace,
        undefined,
        undefined,
        undefined,
        undefined,
        labelSelector,
      );
      // Lists drop apiVersion/kind from items; put them back so objects can be re-applied.
      return out.items.map((i) => ({ ...i, apiVersion, kind }));
    },
    create: (obj) => objects.create(obj, undefined, undefined, FIELD_MANAGER),
    apply: (obj) =>
      objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply),
    async delete(apiVersion: string, kind: string, namespace: string, name: string) {
      try {
        await objects.delete(
          { apiVersion, kind, metadata: { namespace, name } },
          undefined,
          undefined,
          undefined,
          undefined,
          'Background',
        );
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
    async mergePatch<T extends KubernetesObject>(obj: T, patch: object) {
      const target = { apiVersion: obj.apiVersion, kind: obj.kind, metadata: obj.metadata, ...patch };
      try {
        await objects.patch(target, undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        try {
          await objects.create(obj, undefined, undefined, FIELD_MANAGER);
        } catch (createErr) {
          if (!isAlreadyExists(createErr)) throw createErr;
        }
        await objects.patch(target, undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch);
      }
    },
    async label(obj: KubernetesObject, labels: Record<string, string>) {
      const target = {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        metadata: { name: obj.metadata?.name, namespace: obj.metadata?.namespace, labels },
      };
      try {
        await objects.patch(target, undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    },
    async patchStatus(plural: string, namespace: string, name: string, status: unknown) {
      await custom.patchNamespacedCustomObjectStatus(
        { group, version, plural, namespace, name, body: { status } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    },
    setScale: (namespace: string, name: string, replicas: number) => scale.set(namespace, name, replicas),
    async event({ involved, type, reason, message }: KubeEvent) {
      const now = new Date();
      const namespace = involved.metadata?.namespace ?? 'default';
      await core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${involved.metadata?.name ?? 'sluice'}.`, namespace },
          involvedObject: {
            apiVersion: involved.apiVersion,
            kind: involved.kind,
            name: involved.metadata?.name,
            namespace,
            uid: involved.metadata?.uid,
            resourceVersion: involved.metadata?.resourceVersion,
          },
          type,
          reason,
          message: message.slice(0, 1024),
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          source: { component: FIELD_MANAGER },
          reportingComponent: FIELD_MANAGER,
        },
      });
    },
  };
}
