import { LATEST, functionArn } from '../../api/naming.js';
import type {
  AliasResource,
  FunctionResource,
  FunctionSpec,
  FunctionVersionResource,
  LayerVersionResource,
  SluiceResource,
} from '../../api/types.js';
import { isVersionQualifier, type FunctionRef } from '../arn.js';
import { ResourceNotFoundError } from '../errors.js';

/**
 * What the gateway knows about functions: a read-only view of Function, FunctionVersion and
 * Alias objects. The Kubernetes implementation (kube-catalog.ts) keeps it current from watches;
 * tests fill a MemoryCatalog directly.
 */
export interface FunctionCatalog {
  /** True once the initial lists are loaded (the gateway's /readyz waits for it). */
  ready(): boolean;
  getFunction(namespace: string, name: string): FunctionResource | undefined;
  getVersion(namespace: string, fn: string, version: string): FunctionVersionResource | undefined;
  getAlias(namespace: string, fn: string, alias: string): AliasResource | undefined;
  listVersions(namespace: string, fn: string): FunctionVersionResource[];
}

/**
 * What the gateway knows about code packages' owners: every Function of a namespace and its
 * LayerVersions (the management API, the package delivery endpoint and package garbage collection).
 */
export interface PackageCatalog {
  /** True once the initial lists are loaded. */
  ready(): boolean;
  getFunction(namespace: string, name: string): FunctionResource | undefined;
  listVersions(namespace: string, fn: string): FunctionVersionResource[];
  /** The Functions of one namespace, or of all. */
  listFunctions(namespace?: string): FunctionResource[];
  /** The FunctionVersions of one namespace, or of all (of every function). */
  listAllVersions(namespace?: string): FunctionVersionResource[];
  getLayerVersion(namespace: string, layerName: string, version: number): LayerVersionResource | undefined;
  /** The LayerVersions of one namespace (of one layer name when given), or of all namespaces. */
  listLayerVersions(namespace?: string, layerName?: string): LayerVersionResource[];
}

/** An index key no combination of names can forge (a name may hold `/`; JSON quotes it). */
const key = (...parts: string[]): string => JSON.stringify(parts);

/** The alias name used in qualifiers: spec.name, else metadata.name. */
export function aliasName(a: AliasResource): string {
  return a.spec.name ?? a.metadata.name ?? '';
}

/** An in-memory catalog with indexes; the store behind the watches and the fake in tests. */
export class MemoryCatalog implements FunctionCatalog, PackageCatalog {
  private readonly functions = new Map<string, FunctionResource>();
  private readonly versions = new Map<string, FunctionVersionResource>();
  private readonly aliases = new Map<string, AliasResource>();
  private readonly layers = new Map<string, LayerVersionResource>();
  /** uid (or namespace/name) → index key, so an update that moves an object drops its old entry. */
  private readonly keys = new Map<string, string>();
  private loaded: boolean;

  constructor(objects: SluiceResource[] = [], loaded = true) {
    this.loaded = loaded;
    for (const o of objects) this.upsert(o);
  }

  ready(): boolean {
    return this.loaded;
  }

  markLoaded(loaded = true): void {
    this.loaded = loaded;
  }

  private static identity(o: SluiceResource): string {
    return `${o.kind}/${o.metadata.uid ?? `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`}`;
  }

  upsert(o: SluiceResource): void {
    this.remove(o);
    const ns = o.metadata.namespace ?? '';
    let k: string;
    switch (o.kind) {
      case 'Function':
        k = key(ns, o.metadata.name ?? '');
        this.functions.set(k, o);
        break;
      case 'FunctionVersion':
        k = key(ns, o.spec.function, o.spec.version);
        this.versions.set(k, o);
        break;
      case 'Alias':
        k = key(ns, o.spec.function, aliasName(o));
        this.aliases.set(k, o);
        break;
      case 'LayerVersion':
        k = key(ns, o.spec.layerName, String(o.spec.version));
        this.layers.set(k, o);
        break;
      default:
        return;
    }
    this.keys.set(MemoryCatalog.identity(o), k);
  }

  remove(o: SluiceResource): void {
    const id = MemoryCatalog.identity(o);
    const k = this.keys.get(id);
    if (k === undefined) return;
    this.keys.delete(id);
    if (o.kind === 'Function') this.functions.delete(k);
    else if (o.kind === 'FunctionVersion') this.versions.delete(k);
    else if (o.kind === 'Alias') this.aliases.delete(k);
    else if (o.kind === 'LayerVersion') this.layers.delete(k);
  }

  getFunction(namespace: string, name: string): FunctionResource | undefined {
    return this.functions.get(key(namespace, name));
  }

  getVersion(namespace: string, fn: string, version: string): FunctionVersionResource | undefined {
    return this.versions.get(key(namespace, fn, version));
  }

  getAlias(namespace: string, fn: string, alias: string): AliasResource | undefined {
    return this.aliases.get(key(namespace, fn, alias));
  }

  listVersions(namespace: string, fn: string): FunctionVersionResource[] {
    return [...this.versions.values()].filter(
      (v) => (v.metadata.namespace ?? '') === namespace && v.spec.function === fn,
    );
  }

  listFunctions(namespace?: string): FunctionResource[] {
    return [...this.functions.values()].filter((f) => inNamespace(f, namespace));
  }

  listAllVersions(namespace?: string): FunctionVersionResource[] {
    return [...this.versions.values()].filter((v) => inNamespace(v, namespace));
  }

  getLayerVersion(namespace: string, layerName: string, version: number): LayerVersionResource | undefined {
    return this.layers.get(key(namespace, layerName, String(version)));
  }

  listLayerVersions(namespace?: string, layerName?: string): LayerVersionResource[] {
    return [...this.layers.values()].filter(
      (l) => inNamespace(l, namespace) && (layerName === undefined || l.spec.layerName === layerName),
    );
  }
}

function inNamespace(o: { metadata: { namespace?: string } }, namespace: string | undefined): boolean {
  return namespace === undefined || (o.metadata.namespace ?? '') === namespace;
}

/** A request resolved to the concrete version that runs it. */
export interface ResolvedTarget {
  namespace: string;
  /** The function's name. */
  function: string;
  /** The Function object ($LATEST): invokePolicy and reserved concurrency are function-wide. */
  fn: FunctionResource;
  /** The version that runs: `$LATEST` or a number (X-Amz-Executed-Version). */
  version: string;
  /** The configuration that runs: the Function's spec for $LATEST, the snapshot for a version. */
  spec: FunctionSpec;
  /** The qualifier as invoked (`$LATEST`, a number or an alias), for the invoked ARN. */
  qualifier: string;
  qualified: boolean;
  /** Set when the qualifier was an alias. */
  alias?: string;
}

/** Picks between an alias's primary version and its one weighted additional version. */
export function pickAliasVersion(alias: AliasResource, random: () => number): string {
  const extra = Object.entries(alias.spec.additionalVersionWeights ?? {});
  if (extra.length === 0 || alias.spec.version === LATEST) return alias.spec.version;
  const [version, weight] = extra[0] as [string, number];
  return random() < weight ? version : alias.spec.version;
}

function live<T extends { metadata: { deletionTimestamp?: Date | string } }>(
  o: T | undefined,
): T | undefined {
  return o && !o.metadata.deletionTimestamp ? o : undefined;
}

/** Resolves `name[:qualifier]` against the catalog: `$LATEST`, numbered versions, weighted aliases. */
export class FunctionResolver {
  private readonly random: () => number;

  constructor(
    private readonly catalog: FunctionCatalog,
    private readonly region: string,
    random?: () => number,
  ) {
    this.random = random ?? Math.random;
  }

  private notFound(ref: FunctionRef, qualifier?: string): ResourceNotFoundError {
    return new ResourceNotFoundError(
      `Function not found: ${functionArn(this.region, ref.namespace, ref.name, qualifier)}`,
    );
  }

  resolve(ref: FunctionRef): ResolvedTarget {
    const fn = live(this.catalog.getFunction(ref.namespace, ref.name));
    if (!fn) throw this.notFound(ref, ref.qualified ? ref.qualifier : undefined);
    const base = {
      namespace: ref.namespace,
      function: ref.name,
      fn,
      qualifier: ref.qualifier,
      qualified: ref.qualified,
    };
    let version = ref.qualifier;
    let alias: string | undefined;
    if (!isVersionQualifier(ref.qualifier)) {
      const a = live(this.catalog.getAlias(ref.namespace, ref.name, ref.qualifier));
      if (!a) throw this.notFound(ref, ref.qualifier);
      alias = ref.qualifier;
      version = pickAliasVersion(a, this.random);
    }
    if (version === LATEST) return { ...base, version: LATEST, spec: fn.spec, ...(alias ? { alias } : {}) };
    const v = live(this.catalog.getVersion(ref.namespace, ref.name, version));
    if (!v) throw this.notFound(ref, alias ?? version);
    return { ...base, version, spec: v.spec.snapshot, ...(alias ? { alias } : {}) };
  }
}
