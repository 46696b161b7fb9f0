import {
  DEFAULT_ADDRESS_POLICY,
  parseDestination,
  type AddressCheck,
  type Destination,
} from '../../api/destinations.js';
import type { FunctionSpec } from '../../api/types.js';

/**
 * The Function's `DestinationsValid` condition: what the controller can know about
 * `spec.async.onSuccess` / `onFailure` without delivering anything — the destination contract
 * (api/destinations.ts, also for objects stored before the CRD's rules existed, and with the
 * cluster's configured ranges) and whether a `function:` destination exists in the namespace.
 * What names resolve to is only known at delivery (then a failed delivery, a metric and a log).
 */
export interface DestinationsCondition {
  type: 'DestinationsValid';
  status: 'True' | 'False';
  reason: 'Valid' | 'NoDestinations' | 'InvalidDestination' | 'DestinationFunctionNotFound';
  message: string;
}

const FIELDS = ['onSuccess', 'onFailure'] as const;

function parsed(
  spec: FunctionSpec,
  check: AddressCheck,
): { field: string; dest?: Destination; error?: string }[] {
  const out: { field: string; dest?: Destination; error?: string }[] = [];
  for (const f of FIELDS) {
    const uri = spec.async?.[f];
    if (uri === undefined) continue;
    const field = `spec.async.${f}`;
    try {
      out.push({ field, dest: parseDestination(uri, check) });
    } catch (err) {
      out.push({ field, error: (err as Error).message });
    }
  }
  return out;
}

/** Names of the functions the spec's destinations invoke (to look up in the namespace). */
export function destinationFunctions(
  spec: FunctionSpec,
  check: AddressCheck = DEFAULT_ADDRESS_POLICY,
): string[] {
  return parsed(spec, check).flatMap((p) => (p.dest?.kind === 'function' ? [p.dest.name] : []));
}

/** The condition from the spec and which destination functions exist (pure: no clients). */
export function destinationsCondition(
  spec: FunctionSpec,
  functionExists: (name: string) => boolean,
  check: AddressCheck = DEFAULT_ADDRESS_POLICY,
): DestinationsCondition {
  const type = 'DestinationsValid';
  const all = parsed(spec, check);
  if (all.length === 0) {
    return { type, status: 'True', reason: 'NoDestinations', message: 'no async destinations are set' };
  }
  const invalid = all.filter((p) => p.error !== undefined);
  if (invalid.length > 0) {
    return {
      type,
      status: 'False',
      reason: 'InvalidDestination',
      message: invalid.map((p) => `${p.field}: ${p.error}`).join('; '),
    };
  }
  const missing = all.filter((p) => p.dest?.kind === 'function' && !functionExists(p.dest.name));
  if (missing.length > 0) {
    return {
      type,
      status: 'False',
      reason: 'DestinationFunctionNotFound',
      message: missing
        .map((p) => `${p.field}: no Function ${(p.dest as { name: string }).name} in this namespace`)
        .join('; '),
    };
  }
  return {
    type,
    status: 'True',
    reason: 'Valid',
    message: all.map((p) => `${p.field}: ${p.dest?.uri}`).join('; '),
  };
}
