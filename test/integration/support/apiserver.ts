import { KubernetesObjectApi } from '@kubernetes/client-node';
import { ApiServer } from '../../../poller/testing/apiserver.js';
import { until } from '../../support/time.js';

export { ApiServer };

const API = 'sluice.dev/v1alpha1';
const KINDS = ['Function', 'FunctionVersion', 'Alias', 'EventSourceMapping'];

/**
 * A real kube-apiserver with Sluice's CRDs, once every kind answers: a new CRD's storage may answer
 * 429 ("storage is (re)initializing") for a moment after it is served.
 */
export async function startApiServer(...args: Parameters<typeof ApiServer.start>): Promise<ApiServer> {
  const kas = await ApiServer.start(...args);
  const objects = KubernetesObjectApi.makeApiClient(kas.kubeConfig());
  await until(
    async () => {
      try {
        for (const kind of KINDS) await objects.list(API, kind, 'default');
        return true;
      } catch {
        return false;
      }
    },
    'every Sluice kind to be served',
    30_000,
    200,
  );
  return kas;
}
