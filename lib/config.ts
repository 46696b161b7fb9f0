import { parseArgs } from 'node:util';
import { ConfigError } from './errors.js';

/**
 * Configuration is parsed once in each component's `main.ts` from the environment and the
 * command line (a flag wins over its variable), validated, and passed down as a plain object.
 * Nothing reads `process.env` at import time.
 */
type Common = { env: string; flag: string; description: string };
export type FieldSpec =
  | (Common & { type: 'string'; default?: string; pattern?: RegExp; patternHint?: string })
  | (Common & { type: 'int'; default?: number; min?: number; max?: number })
  | (Common & { type: 'bool'; default?: boolean })
  | (Common & { type: 'url'; default?: string })
  | (Common & { type: 'enum'; values: readonly string[]; default?: string });

export type ConfigSpec = Record<string, FieldSpec>;

type ValueOf<F extends FieldSpec> = F extends { type: 'int' }
  ? number
  : F extends { type: 'bool' }
    ? boolean
    : F extends { type: 'enum'; values: readonly (infer V)[] }
      ? V
      : string;

export type ConfigOf<S extends ConfigSpec> = {
  [K in keyof S]: S[K] extends { default: unknown } ? ValueOf<S[K]> : ValueOf<S[K]> | undefined;
};

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

function source(spec: FieldSpec, fromFlag: boolean): string {
  return fromFlag ? `flag --${spec.flag}` : `environment variable ${spec.env}`;
}

function convert(spec: FieldSpec, raw: string, fromFlag: boolean): unknown {
  const where = source(spec, fromFlag);
  switch (spec.type) {
    case 'string':
      if (spec.pattern && !spec.pattern.test(raw)) {
        throw new ConfigError(
          `${where}: "${raw}" is invalid; expected ${spec.patternHint ?? String(spec.pattern)}`,
        );
      }
      return raw;
    case 'int': {
      const n = Number(raw);
      const lo = spec.min ?? Number.MIN_SAFE_INTEGER;
      const hi = spec.max ?? Number.MAX_SAFE_INTEGER;
      if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < lo || n > hi) {
        throw new ConfigError(`${where}: "${raw}" is invalid; expected an integer in ${lo}..${hi}`);
      }
      return n;
    }
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (TRUE.has(v)) return true;
      if (FALSE.has(v)) return false;
      throw new ConfigError(`${where}: "${raw}" is invalid; expected true or false`);
    }
    case 'url':
      try {
        return new URL(raw).toString().replace(/\/$/, '');
      } catch (cause) {
        throw new ConfigError(`${where}: "${raw}" is not a valid URL`, { cause });
      }
    case 'enum':
      if (!spec.values.includes(raw)) {
        throw new ConfigError(`${where}: "${raw}" is invalid; allowed values: ${spec.values.join(', ')}`);
      }
      return raw;
  }
}

/**
 * Parses `argv` (without node and script) and `env` against the spec. Unknown flags and bad
 * values throw a ConfigError naming the flag or variable and what is allowed.
 */
export function parseConfig<S extends ConfigSpec>(
  spec: S,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ConfigOf<S> {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const f of Object.values(spec)) options[f.flag] = { type: f.type === 'bool' ? 'boolean' : 'string' };
  let flags: Record<string, string | boolean | undefined>;
  try {
    flags = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (cause) {
    const known = Object.values(spec)
      .map((f) => `--${f.flag}`)
      .join(', ');
    throw new ConfigError(`${(cause as Error).message}; known flags: ${known}`, { cause });
  }
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(spec)) {
    const flag = flags[f.flag];
    if (flag !== undefined) {
      out[key] = typeof flag === 'boolean' ? flag : convert(f, flag, true);
    } else if (env[f.env] !== undefined && env[f.env] !== '') {
      out[key] = convert(f, env[f.env] as string, false);
    } else {
      out[key] = f.default;
    }
  }
  return out as ConfigOf<S>;
}

/** Renders `--help` text from the spec. */
export function configHelp(component: string, spec: ConfigSpec): string {
  const lines = [`Usage: ${component} [flags]`, '', 'Flags (each also read from its environment variable):'];
  for (const f of Object.values(spec)) {
    const allowed = f.type === 'enum' ? ` (${f.values.join('|')})` : '';
    const def = f.default !== undefined ? ` [default: ${String(f.default)}]` : '';
    lines.push(`  --${f.flag.padEnd(28)} ${f.env.padEnd(32)} ${f.description}${allowed}${def}`);
  }
  return lines.join('\n');
}
