import type { FunctionResource, LayerVersionResource } from '../../api/types.js';
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

export class AlreadyExistsError extends SluiceError {
  override readonly name = 'AlreadyExistsError';
}

export class ConflictError extends SluiceError {
  override readonly name = 'ConflictError';
}
