/**
 * Compares the shape of a response body with one AWS Lambda sent (test/fixtures/aws-lambda/):
 * the keys, the JSON types and the values of enum fields — never the values themselves (the
 * recordings hold placeholders such as "<function-name:1>"). Pure: no I/O but loadRecorded.
 *
 * Paths: `Configuration.CodeSize`, array items as `Functions[].CodeSize`.
 */
import { readFileSync } from 'node:fs';

export type WireType = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object' | 'json-string';

export type ShapeDifference =
  /** AWS sends the key, we do not. */
  | { kind: 'missing'; path: string }
  /** We send a key AWS never does. */
  | { kind: 'extra'; path: string }
  /** Same key, another JSON type (`json-string`: a JSON document sent as a string). */
  | { kind: 'type'; path: string; recorded: WireType; ours: WireType }
  /** An enum field with a value AWS was never seen sending. */
  | { kind: 'enum'; path: string; value: string }
  | { kind: 'status'; recorded: number; ours: number }
  | { kind: 'error-code'; recorded: string | undefined; ours: string | undefined }
  /** AWS sends no body (204), we send one; or the other way round. */
  | { kind: 'body'; recorded: 'none' | 'json'; ours: 'none' | 'json' };

export interface ShapeOptions {
  /** Recorded paths AWS sends only in some conditions (path → why): absent from ours is fine. */
  optional?: Record<string, string>;
  /** Paths we send and the recording lacks, allowed (path → why). */
  allowedExtra?: Record<string, string>;
  /** The wire type of recorded paths whose recorded value hides it (the fixture's `wireTypes`). */
  wireTypes?: Record<string, WireType>;
  /** The values seen for enum fields, by field name (the last path segment, without `[]`). */
  enums?: Record<string, readonly string[]>;
  /** Objects whose keys are data (Environment.Variables): by field name; only value types are compared. */
  maps?: readonly string[];
}

/** Fields whose keys are the caller's data, not the API's. */
export const DEFAULT_MAPS: readonly string[] = ['Variables', 'AdditionalVersionWeights', 'Tags'];

/** A recorded response (test/fixtures/aws-lambda/README.md). */
export interface Recorded {
  operation: string;
  source: string;
  status: number;
  errorCode?: string;
  /** null: no body (204), or `bodyUnknown` when the recorder kept none of it. */
  body: Record<string, unknown> | null;
  bodyUnknown?: boolean;
  wireTypes?: Record<string, WireType>;
  note?: string;
}

/** What we answered. */
export interface OurResponse {
  status: number;
  errorCode?: string;
  /** The raw body text ('' for none). */
  body: string;
}

const FIXTURES = new URL('../fixtures/aws-lambda/', import.meta.url);

export function loadRecorded(name: string): Recorded {
  return JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8')) as Recorded;
}

export function loadEnums(): Record<string, readonly string[]> {
  return (
    JSON.parse(readFileSync(new URL('enums.json', FIXTURES), 'utf8')) as {
      values: Record<string, string[]>;
    }
  ).values;
}

/**
 * The enum values for one operation's fields: `State` means an event-source mapping's states in the
 * mapping calls, a function's elsewhere (enums.json keeps them apart).
 */
export function enumsFor(operation: string): Record<string, readonly string[]> {
  const { ['EventSourceMapping.State']: esm, ...rest } = loadEnums();
  return operation.includes('EventSourceMapping') && esm ? { ...rest, State: esm } : rest;
}

export function typeOf(v: unknown): Exclude<WireType, 'json-string'> {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  const t = typeof v;
  if (t === 'boolean' || t === 'number' || t === 'string' || t === 'object') return t;
  throw new Error(`not a JSON value: ${t}`);
}

const field = (path: string): string => (path.split('.').at(-1) ?? '').replace(/\[\]$/, '');
const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);

/** One shape for all items of a recorded array: a key is "sent" if any item has it. */
function mergeItems(items: unknown[]): unknown {
  const objects = items.filter((i) => typeOf(i) === 'object') as Record<string, unknown>[];
  if (objects.length === 0 || objects.length !== items.length) return items[0];
  const merged: Record<string, unknown> = {};
  for (const o of objects) for (const [k, v] of Object.entries(o)) if (!(k in merged)) merged[k] = v;
  return merged;
}

function compareValue(
  recorded: unknown,
  ours: unknown,
  path: string,
  opts: ShapeOptions,
  out: ShapeDifference[],
): void {
  const wire = opts.wireTypes?.[path] ?? typeOf(recorded);
  if (wire === 'json-string') {
    if (typeof ours !== 'string') {
      out.push({ kind: 'type', path, recorded: wire, ours: typeOf(ours) });
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(ours);
    } catch {
      out.push({ kind: 'type', path, recorded: wire, ours: 'string' });
      return;
    }
    compareValue(recorded, parsed, path, { ...opts, wireTypes: withoutKey(opts.wireTypes, path) }, out);
    return;
  }
  const mine = typeOf(ours);
  if (mine !== wire) {
    out.push({ kind: 'type', path, recorded: wire, ours: mine });
    return;
  }
  if (wire === 'string' && typeof ours === 'string') checkEnum(ours, path, opts, out);
  if (wire === 'array') {
    const items = recorded as unknown[];
    if (items.length === 0) return; // nothing recorded to compare our items with
    const shape = mergeItems(items);
    for (const item of ours as unknown[]) compareValue(shape, item, `${path}[]`, opts, out);
    return;
  }
  if (wire === 'object')
    compareObject(recorded as Record<string, unknown>, ours as Record<string, unknown>, path, opts, out);
}

function withoutKey(
  o: Record<string, WireType> | undefined,
  key: string,
): Record<string, WireType> | undefined {
  if (!o) return o;
  const { [key]: _drop, ...rest } = o;
  return rest;
}

function checkEnum(value: string, path: string, opts: ShapeOptions, out: ShapeDifference[]): void {
  const seen = opts.enums?.[field(path)];
  if (seen && !seen.includes(value)) out.push({ kind: 'enum', path, value });
}

function compareObject(
  recorded: Record<string, unknown>,
  ours: Record<string, unknown>,
  path: string,
  opts: ShapeOptions,
  out: ShapeDifference[],
): void {
  if (path && (opts.maps ?? DEFAULT_MAPS).includes(field(path))) {
    const sample = Object.values(recorded)[0];
    if (sample === undefined) return;
    for (const [k, v] of Object.entries(ours)) compareValue(sample, v, join(path, k), opts, out);
    return;
  }
  for (const [k, v] of Object.entries(recorded)) {
    const p = join(path, k);
    if (!(k in ours)) {
      if (!opts.optional?.[p]) out.push({ kind: 'missing', path: p });
      continue;
    }
    compareValue(v, ours[k], p, opts, out);
  }
  for (const k of Object.keys(ours)) {
    const p = join(path, k);
    if (!(k in recorded) && !opts.allowedExtra?.[p]) out.push({ kind: 'extra', path: p });
  }
}

/** The differences in shape between a recorded body and ours (both parsed JSON). */
export function compareShape(recorded: unknown, ours: unknown, opts: ShapeOptions = {}): ShapeDifference[] {
  const out: ShapeDifference[] = [];
  compareValue(recorded, ours, '', opts, out);
  return out;
}

/** Status, error code and body shape of our response against a recorded one. */
export function compareResponse(
  recorded: Recorded,
  ours: OurResponse,
  opts: ShapeOptions = {},
): ShapeDifference[] {
  const out: ShapeDifference[] = [];
  if (ours.status !== recorded.status)
    out.push({ kind: 'status', recorded: recorded.status, ours: ours.status });
  if (ours.errorCode !== recorded.errorCode) {
    out.push({ kind: 'error-code', recorded: recorded.errorCode, ours: ours.errorCode });
  }
  if (recorded.bodyUnknown) return out;
  const oursHasBody = ours.body.trim().length > 0;
  if (recorded.body === null || !oursHasBody) {
    if ((recorded.body !== null) !== oursHasBody) {
      out.push({
        kind: 'body',
        recorded: recorded.body === null ? 'none' : 'json',
        ours: oursHasBody ? 'json' : 'none',
      });
    }
    return out;
  }
  const wireTypes = { ...recorded.wireTypes, ...opts.wireTypes };
  out.push(...compareShape(recorded.body, JSON.parse(ours.body) as unknown, { ...opts, wireTypes }));
  return out;
}

/** One line per difference, for tables of known differences and failure messages. */
export function formatDifference(d: ShapeDifference): string {
  switch (d.kind) {
    case 'missing':
    case 'extra':
      return `${d.kind} ${d.path}`;
    case 'type':
      return `type ${d.path}: AWS ${d.recorded}, ours ${d.ours}`;
    case 'enum':
      return `enum ${d.path}: ${JSON.stringify(d.value)} never seen from AWS`;
    case 'status':
      return `status: AWS ${d.recorded}, ours ${d.ours}`;
    case 'error-code':
      return `error code: AWS ${d.recorded ?? 'none'}, ours ${d.ours ?? 'none'}`;
    case 'body':
      return `body: AWS ${d.recorded}, ours ${d.ours}`;
  }
}
