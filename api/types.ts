import type { V1ObjectMeta } from '@kubernetes/client-node';
import type {
  AliasSpec,
  AliasStatus,
  EventSourceMappingSpec,
  EventSourceMappingStatus,
  FunctionSpec,
  FunctionStatus,
  FunctionVersionSpec,
  FunctionVersionStatus,
  LayerVersionSpec,
  LayerVersionStatus,
} from './generated/types.js';
import type { API_VERSION } from './schema.js';

export type * from './generated/types.js';

interface Resource<K extends string, S, St> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: V1ObjectMeta;
  spec: S;
  status?: St;
}

/** A Function ($LATEST). Named FunctionResource so it does not shadow the global Function. */
export type FunctionResource = Resource<'Function', FunctionSpec, FunctionStatus>;
export type FunctionVersionResource = Resource<'FunctionVersion', FunctionVersionSpec, FunctionVersionStatus>;
export type AliasResource = Resource<'Alias', AliasSpec, AliasStatus>;
export type EventSourceMappingResource = Resource<
  'EventSourceMapping',
  EventSourceMappingSpec,
  EventSourceMappingStatus
>;
export type LayerVersionResource = Resource<'LayerVersion', LayerVersionSpec, LayerVersionStatus>;
export type SluiceResource =
  | FunctionResource
  | FunctionVersionResource
  | AliasResource
  | EventSourceMappingResource
  | LayerVersionResource;
