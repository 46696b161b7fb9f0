import { parseLayerVersionArn } from '../../api/layers.js';
import type { FunctionSpec } from '../../api/types.js';
import type { PackageCatalog } from '../catalog/catalog.js';

/**
 * Which packages an object keeps alive, from the catalog alone (no clocks, no clients): a
 * Function's spec.code.package, each of its FunctionVersions', and the packages of the
 * LayerVersions their spec.layers name — in the same namespace only (a layer ARN naming another
 * namespace references nothing; admission refuses it anyway).
 */

/** The digests one spec uses: its own package and its layers' (that exist in the namespace). */
export function specPackages(catalog: PackageCatalog, namespace: string, spec: FunctionSpec): string[] {
  const out: string[] = [];
  if (spec.code.package) out.push(spec.code.package);
  for (const arn of spec.layers ?? []) {
    const ref = parseLayerVersionArn(arn);
    if (!ref || ref.namespace !== namespace) continue;
    const layer = catalog.getLayerVersion(namespace, ref.layerName, ref.version);
    if (layer) out.push(layer.spec.package);
  }
  return out;
}

/** The digests a function's pods may fetch: its $LATEST's and every version's, with their layers. */
export function functionPackages(catalog: PackageCatalog, namespace: string, fn: string): Set<string> {
  const out = new Set<string>();
  const f = catalog.getFunction(namespace, fn);
  if (f) for (const d of specPackages(catalog, namespace, f.spec)) out.add(d);
  for (const v of catalog.listVersions(namespace, fn)) {
    for (const d of specPackages(catalog, namespace, v.spec.snapshot)) out.add(d);
  }
  return out;
}

/**
 * Every digest a namespace keeps alive: its Functions', FunctionVersions' and LayerVersions'
 * (a layer version keeps its package whether or not a function uses it).
 */
export function namespacePackages(catalog: PackageCatalog, namespace: string): Set<string> {
  const out = new Set<string>();
  for (const f of catalog.listFunctions(namespace)) if (f.spec.code.package) out.add(f.spec.code.package);
  for (const v of catalog.listAllVersions(namespace)) {
    if (v.spec.snapshot.code.package) out.add(v.spec.snapshot.code.package);
  }
  for (const l of catalog.listLayerVersions(namespace)) out.add(l.spec.package);
  return out;
}
