import type { V1ServiceAccount } from '@kubernetes/client-node';
import { EXECUTION_ROLE_ANNOTATION } from '../../api/naming.js';

/** Why a version's pods may not run; recorded in the Ready condition. */
export interface Blocker {
  reason: string;
  message: string;
}

/**
 * Whether pods may run as the execution role a spec names: the ServiceAccount must exist and be
 * annotated `sluice.dev/execution-role: "true"` (no role: the namespace's default account without a
 * token, always allowed). Pure: the caller reads the ServiceAccount.
 */
export function executionRoleBlocker(
  namespace: string,
  role: string | undefined,
  sa: V1ServiceAccount | undefined,
  field = 'spec.executionRole.serviceAccountName',
): Blocker | undefined {
  if (role === undefined) return undefined;
  if (!sa)
    return {
      reason: 'ServiceAccountNotFound',
      message: `${field}: ServiceAccount ${namespace}/${role} does not exist`,
    };
  if (sa.metadata?.annotations?.[EXECUTION_ROLE_ANNOTATION] !== 'true')
    return {
      reason: 'ExecutionRoleNotAllowed',
      message: `${field}: ServiceAccount ${namespace}/${role} is not an execution role: functions run only as ServiceAccounts annotated ${EXECUTION_ROLE_ANNOTATION}="true" (kubectl -n ${namespace} annotate serviceaccount ${role} ${EXECUTION_ROLE_ANNOTATION}=true)`,
    };
  return undefined;
}
