import { createHash } from 'node:crypto';
import type { FunctionSpec } from './generated/types.js';

/** JSON with object keys sorted at every level, so equal values always give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The hash that decides whether publishing makes a new version: code and configuration of a
 * Function spec. `versioning` is left out (turning autoPublish on is not a change of the function).
 */
export function specHash(spec: FunctionSpec): string {
  const { versioning: _versioning, ...rest } = spec;
  return sha256Hex(canonicalJson(rest));
}
