import { ValidationError } from '../lib/errors.js';

/**
 * Event filtering with a subset of EventBridge's pattern syntax (lambda.md §6): a pattern is a
 * JSON object whose leaves are arrays of matchers — literal values (strings, numbers, booleans,
 * null, ""), `{"prefix": "…"}`, `{"numeric": [">", 0, "<=", 5]}`, `{"exists": bool}` and
 * `{"anything-but": value | [values] | {"prefix": "…"}}`. The values in one array are ORed; the
 * keys of an object are ANDed; a list of patterns is ORed. An event value that is an array
 * matches when any element does. Literals compare case-sensitively, numbers as their decimal
 * text.
 */
export type Matcher =
  | { kind: 'literal'; value: string | number | boolean | null }
  | { kind: 'prefix'; value: string }
  | { kind: 'numeric'; ops: { op: '<' | '<=' | '=' | '>=' | '>'; value: number }[] }
  | { kind: 'exists'; value: boolean }
  | { kind: 'anything-but'; values: (string | number)[]; prefix?: string };

export interface PatternNode {
  [key: string]: Matcher[] | PatternNode;
}

export interface CompiledFilter {
  /** True when the event matches one of the patterns, or when there are none. */
  matches(event: unknown): boolean;
}

const NUMERIC_OPS = new Set(['<', '<=', '=', '>=', '>']);

function fail(path: string, why: string): never {
  throw new ValidationError(`spec.filterCriteria: pattern at "${path || '(root)'}": ${why}`);
}

function compileMatcher(m: unknown, path: string): Matcher {
  if (m === null || typeof m === 'string' || typeof m === 'number' || typeof m === 'boolean') {
    return { kind: 'literal', value: m };
  }
  if (typeof m !== 'object' || Array.isArray(m)) fail(path, 'matchers must be values or objects');
  const entries = Object.entries(m as Record<string, unknown>);
  if (entries.length !== 1) fail(path, 'a matcher object has exactly one key');
  const [key, arg] = entries[0] as [string, unknown];
  switch (key) {
    case 'prefix':
      if (typeof arg !== 'string') fail(path, 'prefix takes a string');
      return { kind: 'prefix', value: arg };
    case 'exists':
      if (typeof arg !== 'boolean') fail(path, 'exists takes true or false');
      return { kind: 'exists', value: arg };
    case 'numeric':
      return { kind: 'numeric', ops: compileNumeric(arg, path) };
    case 'anything-but':
      return compileAnythingBut(arg, path);
    default:
      return fail(path, `unsupported matcher "${key}" (supported: prefix, numeric, exists, anything-but)`);
  }
}

function compileNumeric(arg: unknown, path: string): Extract<Matcher, { kind: 'numeric' }>['ops'] {
  if (!Array.isArray(arg) || arg.length === 0 || arg.length % 2 !== 0 || arg.length > 4) {
    fail(path, 'numeric takes one or two [operator, number] pairs');
  }
  const ops: Extract<Matcher, { kind: 'numeric' }>['ops'] = [];
  for (let i = 0; i < arg.length; i += 2) {
    const op: unknown = arg[i];
    const value: unknown = arg[i + 1];
    if (typeof op !== 'string' || !NUMERIC_OPS.has(op)) fail(path, `bad numeric operator ${String(op)}`);
    if (typeof value !== 'number' || !Number.isFinite(value)) fail(path, 'numeric operands must be numbers');
    ops.push({ op: op as '<', value });
  }
  return ops;
}

function compileAnythingBut(arg: unknown, path: string): Matcher {
  if (typeof arg === 'string' || typeof arg === 'number') return { kind: 'anything-but', values: [arg] };
  if (Array.isArray(arg)) {
    if (!arg.every((v) => typeof v === 'string' || typeof v === 'number')) {
      fail(path, 'anything-but lists strings or numbers');
    }
    return { kind: 'anything-but', values: arg };
  }
  if (arg && typeof arg === 'object' && typeof (arg as { prefix?: unknown }).prefix === 'string') {
    return { kind: 'anything-but', values: [], prefix: (arg as { prefix: string }).prefix };
  }
  return fail(path, 'anything-but takes a value, a list of values or {"prefix": "…"}');
}

export function compilePattern(pattern: unknown, path = ''): PatternNode {
  if (!pattern || typeof pattern !== 'object' || Array.isArray(pattern)) fail(path, 'must be a JSON object');
  const out: PatternNode = {};
  for (const [key, value] of Object.entries(pattern as Record<string, unknown>)) {
    const p = path ? `${path}.${key}` : key;
    if (Array.isArray(value)) {
      if (value.length === 0) fail(p, 'an empty list matches nothing');
      out[key] = value.map((m) => compileMatcher(m, p));
    } else if (value && typeof value === 'object') {
      out[key] = compilePattern(value, p);
    } else {
      fail(p, 'leaves must be arrays of matchers');
    }
  }
  return out;
}

function literalEquals(expected: string | number | boolean | null, actual: unknown): boolean {
  if (expected === null) return actual === null;
  if (typeof expected === 'number') return typeof actual === 'number' && String(actual) === String(expected);
  return actual === expected;
}

function numericOk(ops: Extract<Matcher, { kind: 'numeric' }>['ops'], v: number): boolean {
  return ops.every(({ op, value }) => {
    switch (op) {
      case '<':
        return v < value;
      case '<=':
        return v <= value;
      case '=':
        return v === value;
      case '>=':
        return v >= value;
      case '>':
        return v > value;
    }
  });
}

/** Whether one (present, scalar) value satisfies a matcher. */
function scalarMatches(m: Matcher, v: unknown): boolean {
  switch (m.kind) {
    case 'literal':
      return literalEquals(m.value, v);
    case 'prefix':
      return typeof v === 'string' && v.startsWith(m.value);
    case 'numeric':
      return typeof v === 'number' && numericOk(m.ops, v);
    case 'exists':
      return m.value;
    case 'anything-but':
      if (m.prefix !== undefined) return typeof v === 'string' && !v.startsWith(m.prefix);
      return (typeof v === 'string' || typeof v === 'number') && !m.values.some((x) => literalEquals(x, v));
  }
}

function leafMatches(matchers: Matcher[], present: boolean, value: unknown): boolean {
  return matchers.some((m) => {
    if (!present) return m.kind === 'exists' && !m.value;
    if (m.kind === 'exists') return m.value && value !== undefined;
    if (Array.isArray(value)) return value.some((v) => scalarMatches(m, v));
    if (value !== null && typeof value === 'object') return false;
    return scalarMatches(m, value);
  });
}

export function matchNode(node: PatternNode, event: unknown): boolean {
  const obj = event !== null && typeof event === 'object' && !Array.isArray(event) ? event : undefined;
  return Object.entries(node).every(([key, want]) => {
    const present = obj !== undefined && Object.prototype.hasOwnProperty.call(obj, key);
    const value = present ? (obj as Record<string, unknown>)[key] : undefined;
    if (Array.isArray(want)) return leafMatches(want, present, value);
    if (!present) return false;
    if (Array.isArray(value)) return value.some((v) => matchNode(want, v));
    return matchNode(want, value);
  });
}

/** Compiles `filterCriteria.filters[].pattern` (JSON strings); throws a ValidationError naming the bad one. */
export function compileFilters(patterns: readonly string[]): CompiledFilter {
  const nodes = patterns.map((text, i) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (cause) {
      throw new ValidationError(`spec.filterCriteria.filters[${i}].pattern is not valid JSON`, { cause });
    }
    return compilePattern(parsed);
  });
  return {
    matches: (event) => nodes.length === 0 || nodes.some((n) => matchNode(n, event)),
  };
}
