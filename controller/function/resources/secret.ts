import type { V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import { INVOKE_TOKEN_KEY, invokeToken, invokeTokenSecretName } from '../../../api/invoke-token.js';
import { LABELS, MANAGED_BY } from '../../../api/naming.js';

/**
 * The Secret holding a function's invoke token (api/invoke-token.ts), owned by the Function: mounted
 * into sluice-runtime of every version's pods, which refuse calls that do not carry it.
 */
export function makeInvokeTokenSecret(
  namespace: string,
  fn: string,
  key: Buffer,
  owner: V1OwnerReference,
): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: invokeTokenSecretName(fn),
      namespace,
      labels: { [LABELS.function]: fn, [LABELS.managedBy]: MANAGED_BY, [LABELS.component]: 'invoke-token' },
      ownerReferences: [owner],
    },
    type: 'Opaque',
    // data, not stringData: server-side apply compares it as written, so an unchanged token writes nothing.
    data: { [INVOKE_TOKEN_KEY]: Buffer.from(invokeToken(key, namespace, fn)).toString('base64') },
  };
}
