import { AuthorizationV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { LABELS } from '../../api/naming.js';
import { GROUP, VERSION } from '../../api/schema.js';
import type { FunctionVersionResource } from '../../api/types.js';
import type { Principal } from '../auth/principal.js';
import { VersionExistsError, type PublishAuthorizer, type VersionStore } from './publish.js';

const PLURAL = 'functionversions';

/** FunctionVersions on the API server. */
export class KubeVersionStore implements VersionStore {
  private readonly api: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  /**
   * The function's versions: those labelled `sluice.dev/function` (publishing sets it), and
   * legacy ones without the label (the controller labels them), by `spec.function`.
   */
  async list(namespace: string, fn: string): Promise<FunctionVersionResource[]> {
    const select = async (labelSelector: string): Promise<FunctionVersionResource[]> =>
      (
        (await this.api.listNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: PLURAL,
          labelSelector,
        })) as { items: FunctionVersionResource[] }
      ).items;
    const [labelled, legacy] = await Promise.all([
      select(`${LABELS.function}=${fn}`),
      select(`!${LABELS.function}`),
    ]);
    return [...labelled, ...legacy].filter((v) => v.spec.function === fn);
  }

  async create(v: FunctionVersionResource): Promise<FunctionVersionResource> {
    try {
      return (await this.api.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: v.metadata.namespace ?? 'default',
        plural: PLURAL,
        body: v,
        fieldManager: 'sluice-gateway',
      })) as FunctionVersionResource;
    } catch (err) {
      if ((err as { code?: unknown }).code === 409)
        throw new VersionExistsError(`${v.metadata.name ?? ''} exists`, { cause: err });
      throw err;
    }
  }
}

/** Publishing needs RBAC `create functionversions.sluice.dev` in the namespace (a SubjectAccessReview). */
export class KubePublishAuthorizer implements PublishAuthorizer {
  private readonly api: AuthorizationV1Api;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(AuthorizationV1Api);
  }

  async canPublish(principal: Principal, namespace: string): Promise<boolean> {
    if (principal.kind === 'anonymous') return false;
    const subject =
      principal.kind === 'serviceaccount'
        ? {
            user: `system:serviceaccount:${principal.namespace}:${principal.name}`,
            groups: [
              'system:serviceaccounts',
              `system:serviceaccounts:${principal.namespace}`,
              'system:authenticated',
            ],
          }
        : { user: principal.name, groups: ['system:authenticated'] };
    const r = await this.api.createSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          ...subject,
          resourceAttributes: { namespace, verb: 'create', group: GROUP, resource: PLURAL },
        },
      },
    });
    return r.status?.allowed === true;
  }
}
