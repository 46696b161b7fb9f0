import type { V1Service } from '@kubernetes/client-node';
import { RUNTIME_INVOKE_PORT, workloadLabels, workloadName, workloadSelector } from '../../../api/naming.js';
import type { VersionPlan } from './types.js';

/** A headless Service per version: its EndpointSlices tell the gateway which pods are ready. */
export function makeService(plan: VersionPlan): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: workloadName(plan.functionName, plan.version),
      namespace: plan.namespace,
      labels: workloadLabels(plan.functionName, plan.version),
      ownerReferences: [plan.owner],
    },
    spec: {
      clusterIP: 'None',
      selector: workloadSelector(plan.functionName, plan.version),
      ports: [{ name: 'http', port: RUNTIME_INVOKE_PORT, targetPort: 'http', protocol: 'TCP' }],
      publishNotReadyAddresses: false,
    },
  };
}
