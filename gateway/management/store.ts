import type { AliasResource, FunctionResource, LayerVersionResource } from '../../api/types.js';
import { SluiceError } from '../../lib/index.js';

/**
 * Functions and LayerVersions as the management API reads and writes them: on the API server
 * (kube-store.ts; reads are fresh, so a call sees the previous call's write), a map in tests.
 */
export interface ManagementStore {
  getFunction(namespace: string, name: string): Promise<FunctionResource | undefined>;
  /** Throws AlreadyExistsError when the name is taken. */
  createFunction(fn: FunctionResource): Promise<FunctionResource>;
  /** Replaces the object at its resourceVersion; throws ConflictError when it changed meanwhile. */
  replaceFunction(fn: FunctionResource): Promise<FunctionResource>;
  /** False when there was none. */
  deleteFunction(namespace: string, name: string): Promise<boolean>;
  /** The namespace's LayerVersions (of one layer name when given). */
  listLayerVersions(namespace: string, layerName?: string): Promise<LayerVersionResource[]>;
  /** Throws AlreadyExistsError when the name is taken (a concurrent publisher). */
  createLayerVersion(lv: LayerVersionResource): Promise<LayerVersionResource>;
  deleteLayerVersion(namespace: string, name: string): Promise<boolean>;
}

/**
 * What the configuration and alias calls read and write besides ManagementStore: the Functions of
 * a namespace and Alias objects, read fresh from the API server (kube-store.ts), a map in tests.
 */
export interface FunctionObjectStore {
  listFunctions(namespace: string): Promise<FunctionResource[]>;
  /** The Aliases of one function (spec.function), whatever their metadata.name. */
  listAliases(namespace: string, fn: string): Promise<AliasResource[]>;
  /** Throws AlreadyExistsError when the name is taken. */
  createAlias(alias: AliasResource): Promise<AliasResource>;
  /** Replaces the object at its resourceVersion; throws ConflictError when it changed meanwhile. */
  replaceAlias(alias: AliasResource): Promise<AliasResource>;
  /** False when there was none. */
  deleteAlias(namespace: string, name: string): Promise<boolean>;
}

export class AlreadyExistsError extends SluiceError {
  override readonly name = 'AlreadyExistsError';
}

export class ConflictError extends SluiceError {
  override readonly name = 'ConflictError';
}
