import { parseLayerVersionArn, layerVersionName } from '../../api/layers.js';
import { API_VERSION } from '../../api/schema.js';
import type { FunctionSpec, LayerVersionResource } from '../../api/types.js';
import type { Blocker } from './execution-role.js';

/**
 * The package digests of a version's layers, in the spec's order: each ARN names a LayerVersion
 * of the function's own namespace (`layerVersionName`). A layer that is not there — or an ARN of
 * another namespace, which the admission policy refuses already — blocks the version: no pod
 * rather than a pod whose code cannot be complete.
 */
export async function resolveLayers(
  get: (
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string,
  ) => Promise<LayerVersionResource | undefined>,
  namespace: string,
  spec: FunctionSpec,
  where: string,
): Promise<{ digests: string[] } | Blocker> {
  const digests: string[] = [];
  for (const [i, arn] of (spec.layers ?? []).entries()) {
    const ref = parseLayerVersionArn(arn);
    if (!ref || ref.namespace !== namespace) {
      return {
        reason: 'LayerNotAllowed',
        message: `${where}[${i}]: ${arn} is not a layer version of namespace ${namespace}`,
      };
    }
    const lv = await get(
      API_VERSION,
      'LayerVersion',
      namespace,
      layerVersionName(ref.layerName, ref.version),
    );
    if (!lv || lv.spec.layerName !== ref.layerName || lv.spec.version !== ref.version) {
      return {
        reason: 'LayerNotFound',
        message: `${where}[${i}]: layer ${ref.layerName} version ${ref.version} does not exist in namespace ${namespace}`,
      };
    }
    digests.push(lv.spec.package);
  }
  return { digests };
}
