import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import { LABELS, MANAGED_BY } from '../../../api/naming.js';
import { ACCOUNTS_CONFIGMAP, ACCOUNTS_LABEL } from '../../../lib/nats/kube-accounts.js';

/** The Secret a namespace's workloads use to reach its own NATS account. */
export const TENANT_SECRET = 'sluice-nats';
/** A namespace with this annotation set to "true" gets its account and Secret without a mapping. */
export const CREDENTIALS_ANNOTATION = 'sluice.dev/nats-credentials';

/** Secret `sluice-nats`: `url` and `creds` (a NATS credentials file scoped to the namespace's account). */
export function makeTenantSecret(namespace: string, url: string, creds: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: TENANT_SECRET,
      namespace,
      labels: {
        [LABELS.managedBy]: MANAGED_BY,
        [LABELS.component]: 'nats-credentials',
        [LABELS.partOf]: 'sluice',
      },
      annotations: {
        'sluice.dev/description':
          "NATS credentials of this namespace's own account (streams, KV, subjects): written by sluice-controller; delete it to get new ones (the old user is revoked)",
      },
    },
    type: 'Opaque',
    stringData: { url, creds },
  };
}

/** The (empty) accounts ConfigMap, labelled for the platform's informers. */
export function makeAccountsConfigMap(namespace: string, name = ACCOUNTS_CONFIGMAP): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace,
      labels: {
        [ACCOUNTS_LABEL.key]: ACCOUNTS_LABEL.value,
        [LABELS.managedBy]: MANAGED_BY,
        [LABELS.partOf]: 'sluice',
      },
    },
    data: {},
  };
}
