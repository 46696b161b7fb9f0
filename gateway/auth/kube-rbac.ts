import { AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Principal } from './principal.js';

/** What a caller wants to do, in Kubernetes RBAC terms. */
export interface ResourceAttributes {
  namespace: string;
  verb: string;
  group: string;
  resource: string;
  name?: string;
}

/** Whether a principal may do something, by Kubernetes RBAC. */
export interface AccessReviewer {
  allowed(principal: Principal, attrs: ResourceAttributes): Promise<boolean>;
}

/** The user and groups a SubjectAccessReview asks about for a principal. */
export function subjectOf(p: Exclude<Principal, { kind: 'anonymous' }>): { user: string; groups: string[] } {
  return p.kind === 'serviceaccount'
    ? {
        user: `system:serviceaccount:${p.namespace}:${p.name}`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${p.namespace}`, 'system:authenticated'],
      }
    : { user: p.name, groups: ['system:authenticated'] };
}

/** Asks the API server with a SubjectAccessReview; anonymous callers are never allowed. */
export class KubeAccessReviewer implements AccessReviewer {
  private readonly api: AuthorizationV1Api;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(AuthorizationV1Api);
  }

  async allowed(principal: Principal, attrs: ResourceAttributes): Promise<boolean> {
    if (principal.kind === 'anonymous') return false;
    const r = await this.api.createSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { ...subjectOf(principal), resourceAttributes: attrs },
      },
    });
    return r.status?.allowed === true;
  }
}
