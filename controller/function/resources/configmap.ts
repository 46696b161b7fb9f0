import type { V1ConfigMap } from '@kubernetes/client-node';
import { codeConfigMapName, LABELS, MANAGED_BY } from '../../../api/naming.js';
import { sha256Hex } from '../../../api/hash.js';
import type { V1OwnerReference } from '@kubernetes/client-node';

/** Key under which inline code is stored; the volume maps it to the handler's file. */
export const INLINE_CODE_KEY = 'code';

/** The file inline code is written to: the handler's module path, with .js when it has no extension. */
export function inlineCodeFile(handler: string): string {
  const lastDot = handler.lastIndexOf('.');
  const module = lastDot > 0 ? handler.slice(0, lastDot) : 'index';
  return /\.(c|m)?js$/.test(module) ? module : `${module}.js`;
}

export function inlineCodeHash(inline: string): string {
  return sha256Hex(inline);
}

/** An immutable ConfigMap named by the hash of the code it holds. */
export function makeCodeConfigMap(
  namespace: string,
  fn: string,
  inline: string,
  owner: V1OwnerReference,
): V1ConfigMap {
  const hash = inlineCodeHash(inline);
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: codeConfigMapName(fn, hash),
      namespace,
      labels: { [LABELS.function]: fn, [LABELS.managedBy]: MANAGED_BY, [LABELS.component]: 'code' },
      annotations: { 'sluice.dev/code-sha256': hash },
      ownerReferences: [owner],
    },
    immutable: true,
    data: { [INLINE_CODE_KEY]: inline },
  };
}
