import { createHash } from 'node:crypto';
import { dnsLabel, functionArn, LATEST } from '../../api/naming.js';
import { API_VERSION, isReservedEnv } from '../../api/schema.js';
import type {
  AliasResource,
  FunctionResource,
  FunctionSpec,
  FunctionVersionResource,
} from '../../api/types.js';
import { InvalidParameterError } from '../errors.js';
import { checkLayers, executionRoleOf, functionConfigurationOf, sluiceRuntime, stateOf } from './mapping.js';

/**
 * The configuration, version and alias calls' shapes ⇄ the CRDs, pure: UpdateFunctionConfiguration
 * onto a Function's spec, a FunctionVersion as Lambda's FunctionConfiguration, Alias objects as
 * Lambda's AliasConfiguration, and Marker/MaxItems pagination.
 */

/** What UpdateFunctionConfiguration may change (types already checked); absent: unchanged. */
export interface ConfigurationInput {
  description?: string;
  handler?: string;
  memorySize?: number;
  timeout?: number;
  /** Replaces all variables; `{}` removes them. */
  environment?: Record<string, string>;
  runtime?: string;
  role?: string;
  /** Replaces the layers; `[]` removes them. */
  layers?: string[];
  ephemeralStorage?: number;
}

function inRange(field: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return;
  if (value < min) {
    throw new InvalidParameterError(
      `1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: Member must have value greater than or equal to ${min}`,
    );
  }
  if (value > max) {
    throw new InvalidParameterError(
      `1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: Member must have value less than or equal to ${max}`,
    );
  }
}

/** Lambda's limits on the configuration (also the CRD's), checked before anything is written. */
export function checkConfiguration(input: ConfigurationInput, namespace: string): void {
  inRange('memorySize', input.memorySize, 128, 10240);
  inRange('timeout', input.timeout, 1, 900);
  inRange('ephemeralStorage.size', input.ephemeralStorage, 512, 10240);
  if (input.description !== undefined && input.description.length > 256) {
    throw new InvalidParameterError(
      "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 256",
    );
  }
  if (input.handler !== undefined && !/^[^\s]{1,128}$/.test(input.handler)) {
    throw new InvalidParameterError(`Handler ${input.handler} is invalid`);
  }
  const reserved = Object.keys(input.environment ?? {}).filter(isReservedEnv);
  if (reserved.length) {
    throw new InvalidParameterError(
      `Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: ${reserved.join(', ')}`,
    );
  }
  if (input.layers) checkLayers(input.layers, namespace);
}

/** The Function after UpdateFunctionConfiguration: the fields given replace, the rest is kept. */
export function withConfiguration(fn: FunctionResource, input: ConfigurationInput): FunctionResource {
  const namespace = fn.metadata.namespace ?? 'default';
  checkConfiguration(input, namespace);
  const spec: FunctionSpec = { ...fn.spec };
  if (input.runtime !== undefined) spec.runtime = sluiceRuntime(input.runtime);
  if (input.handler !== undefined) spec.handler = input.handler;
  if (spec.runtime === 'provided') delete spec.handler;
  if (input.description !== undefined) {
    if (input.description) spec.description = input.description;
    else delete spec.description;
  }
  if (input.memorySize !== undefined) spec.memoryMB = input.memorySize;
  if (input.timeout !== undefined) spec.timeoutSeconds = input.timeout;
  if (input.ephemeralStorage !== undefined) spec.ephemeralStorageMB = input.ephemeralStorage;
  if (input.environment !== undefined) {
    if (Object.keys(input.environment).length) spec.environment = input.environment;
    else delete spec.environment;
  }
  if (input.layers !== undefined) {
    if (input.layers.length) spec.layers = input.layers as FunctionSpec['layers'];
    else delete spec.layers;
  }
  if (input.role !== undefined) {
    delete spec.executionRole;
    Object.assign(spec, executionRoleOf(input.role, namespace));
  }
  return { ...fn, spec };
}

/** Lambda's FunctionConfiguration of a published version (ListVersionsByFunction). */
export function versionConfigurationOf(
  region: string,
  v: FunctionVersionResource,
  codeSize: number,
  layerSizes: (arn: string) => number = () => 0,
): Record<string, unknown> {
  const ns = v.metadata.namespace ?? 'default';
  const asFunction: FunctionResource = {
    apiVersion: API_VERSION,
    kind: 'Function',
    metadata: {
      name: v.spec.function,
      namespace: ns,
      ...(v.metadata.creationTimestamp ? { creationTimestamp: v.metadata.creationTimestamp } : {}),
    },
    spec: v.spec.snapshot,
  };
  const { State, StateReason, StateReasonCode } = stateOf(v.metadata.generation, v.status?.conditions);
  // A version never changes: its LastUpdateStatus is Successful, without the function's reasons.
  const {
    LastUpdateStatusReason: _reason,
    LastUpdateStatusReasonCode: _code,
    ...configuration
  } = functionConfigurationOf(region, asFunction, codeSize, layerSizes);
  return {
    ...configuration,
    FunctionArn: functionArn(region, ns, v.spec.function, v.spec.version),
    Version: v.spec.version,
    Description: v.spec.description ?? '',
    State,
    ...(StateReason !== undefined ? { StateReason, StateReasonCode } : {}),
    LastUpdateStatus: 'Successful',
    RevisionId: v.metadata.resourceVersion ?? '',
  };
}

/** A Lambda alias name: 1-128 of [a-zA-Z0-9-_], starting with a letter (not a version number). */
export function checkAliasName(name: string): void {
  if (!/^[a-zA-Z][a-zA-Z0-9_-]{0,127}$/.test(name)) {
    throw new InvalidParameterError(
      `1 validation error detected: Value '${name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+) (Sluice: starting with a letter, at most 128 characters)`,
    );
  }
}

/** An alias's target: $LATEST or a version number. */
export function checkFunctionVersion(version: string): void {
  if (version !== LATEST && !/^[1-9][0-9]{0,15}$/.test(version)) {
    throw new InvalidParameterError(
      `1 validation error detected: Value '${version}' at 'functionVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)`,
    );
  }
}

/** RoutingConfig.AdditionalVersionWeights: at most one other published version, weight in [0, 1]. */
export function checkRouting(weights: Record<string, unknown>, primary: string): Record<string, number> {
  const entries = Object.entries(weights);
  if (entries.length > 1) {
    throw new InvalidParameterError('Number of items in AdditionalVersionWeights cannot be greater than 1');
  }
  for (const [version, weight] of entries) {
    if (!/^[1-9][0-9]{0,15}$/.test(version)) {
      throw new InvalidParameterError(`Invalid function version ${version} in AdditionalVersionWeights`);
    }
    if (typeof weight !== 'number' || !(weight >= 0 && weight <= 1)) {
      throw new InvalidParameterError(
        `Invalid weight for version ${version} in AdditionalVersionWeights: a number in [0.0, 1.0]`,
      );
    }
    if (version === primary) {
      throw new InvalidParameterError(
        `Invalid function version ${version}. Function version ${version} is already included in routing configuration.`,
      );
    }
    if (primary === LATEST) {
      throw new InvalidParameterError(
        'Invalid function version $LATEST. Function version $LATEST is not supported for routing configuration.',
      );
    }
  }
  return Object.fromEntries(entries) as Record<string, number>;
}

/**
 * The Alias object's metadata.name: `FUNCTION-ALIAS` when that is a DNS label as it is; a
 * lower-cased form with a hash of the alias name otherwise (`Prod` and `prod` are two aliases).
 * Lookups go by spec.function and the alias name, never by this name.
 */
export function aliasObjectName(fn: string, alias: string): string {
  const plain = `${fn}-${alias}`;
  if (/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(plain)) return dnsLabel(plain);
  const hash = createHash('sha256').update(alias).digest('hex').slice(0, 8);
  const lower = plain.toLowerCase().replace(/_/g, '-').replace(/-+$/, '');
  return dnsLabel(`${lower}-${hash}`);
}

/** What CreateAlias sets. */
export interface AliasInput {
  name: string;
  functionVersion: string;
  description?: string;
  weights?: Record<string, number>;
}

/** The Alias a CreateAlias call makes. */
export function aliasFrom(namespace: string, fn: string, input: AliasInput): AliasResource {
  checkAliasName(input.name);
  checkFunctionVersion(input.functionVersion);
  if (input.description !== undefined && input.description.length > 256) {
    throw new InvalidParameterError('Description must be at most 256 characters');
  }
  const weights = input.weights ? checkRouting(input.weights, input.functionVersion) : {};
  return {
    apiVersion: API_VERSION,
    kind: 'Alias',
    metadata: { name: aliasObjectName(fn, input.name), namespace },
    spec: {
      function: fn,
      name: input.name,
      version: input.functionVersion,
      ...(input.description ? { description: input.description } : {}),
      ...(Object.keys(weights).length ? { additionalVersionWeights: weights } : {}),
    },
  };
}

/** What UpdateAlias may change; absent: unchanged (`weights: {}` removes the routing). */
export interface AliasUpdate {
  functionVersion?: string;
  description?: string;
  weights?: Record<string, number>;
}

/** The Alias after UpdateAlias. */
export function withAliasUpdate(alias: AliasResource, update: AliasUpdate): AliasResource {
  const version = update.functionVersion ?? alias.spec.version;
  checkFunctionVersion(version);
  if (update.description !== undefined && update.description.length > 256) {
    throw new InvalidParameterError('Description must be at most 256 characters');
  }
  const weights = checkRouting(update.weights ?? alias.spec.additionalVersionWeights ?? {}, version);
  const spec: AliasResource['spec'] = { ...alias.spec, version };
  if (update.description !== undefined) {
    if (update.description) spec.description = update.description;
    else delete spec.description;
  }
  if (Object.keys(weights).length) spec.additionalVersionWeights = weights;
  else delete spec.additionalVersionWeights;
  return { ...alias, spec };
}

/** The alias name used in qualifiers: spec.name, else metadata.name (as the catalog reads it). */
export function aliasNameOf(a: AliasResource): string {
  return a.spec.name ?? a.metadata.name ?? '';
}

/** Lambda's AliasConfiguration. */
export function aliasConfigurationOf(region: string, a: AliasResource): Record<string, unknown> {
  const ns = a.metadata.namespace ?? 'default';
  const weights = a.spec.additionalVersionWeights ?? {};
  return {
    AliasArn: functionArn(region, ns, a.spec.function, aliasNameOf(a)),
    Name: aliasNameOf(a),
    FunctionVersion: a.spec.version,
    Description: a.spec.description ?? '',
    ...(Object.keys(weights).length ? { RoutingConfig: { AdditionalVersionWeights: weights } } : {}),
    RevisionId: a.metadata.resourceVersion ?? '',
  };
}

/** MaxItems of a list call: 1..10000 (Lambda's range); pages hold at most `cap`. */
export function maxItems(raw: string | undefined, cap: number): number {
  if (raw === undefined) return cap;
  const s = raw;
  if (!/^[0-9]{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 10000) {
    throw new InvalidParameterError(
      `1 validation error detected: Value '${s}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000`,
    );
  }
  return Math.min(Number(s), cap);
}

/**
 * One page of a list sorted by `key`: the items after Marker (an opaque token: the last key of
 * the previous page), at most `max`; NextMarker when more follow. Stable while items come and go.
 */
export function paginate<T>(
  items: T[],
  key: (item: T) => string,
  marker: string | undefined,
  max: number,
): { page: T[]; nextMarker?: string } {
  let after: string | undefined;
  if (marker !== undefined && marker !== '') {
    after = Buffer.from(marker, 'base64url').toString('utf8');
    if (Buffer.from(after, 'utf8').toString('base64url') !== marker) {
      throw new InvalidParameterError(`Marker ${marker.slice(0, 64)} is invalid`);
    }
  }
  const sorted = [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const rest = after === undefined ? sorted : sorted.filter((i) => key(i) > after);
  const page = rest.slice(0, max);
  const last = page[page.length - 1];
  return rest.length > max && last !== undefined
    ? { page, nextMarker: Buffer.from(key(last), 'utf8').toString('base64url') }
    : { page };
}
