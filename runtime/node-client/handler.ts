import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorTypes, RuntimeClientError, wrapError } from './errors.js';

/**
 * Handler-string resolution as the reference Node.js client does it (`[path/]module.export[.nested]`,
 * resolved under the task root: extensionless, `.js` (CommonJS unless the nearest package.json says
 * `"type": "module"`), `.mjs`, `.cjs`, then `require.resolve`).
 */
export interface HandlerString {
  /** Directory part relative to the task root, without a trailing slash ('' when none). */
  moduleRoot: string;
  moduleName: string;
  /** Property path inside the module, dots kept (`handler`, `nested.handler`). */
  handlerName: string;
}

export type Handler = (event: unknown, context: unknown, callback?: unknown) => unknown;

export function parseHandlerString(full: string): HandlerString {
  if (full.includes('..')) {
    throw new RuntimeClientError(
      ErrorTypes.malformedHandlerName,
      `'${full}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const base = path.basename(full);
  const moduleRoot = full.substring(0, full.indexOf(base)).replace(/\/$/, '');
  const m = /^([^.]*)\.(.*)$/.exec(base);
  if (!m || !m[1] || !m[2]) throw new RuntimeClientError(ErrorTypes.malformedHandlerName, 'Bad handler');
  return { moduleRoot, moduleName: m[1], handlerName: m[2] };
}

/** True when the package.json nearest to `file` declares `"type": "module"`. */
export function hasTypeModule(file: string): boolean {
  let dir = path.dirname(file);
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        return (JSON.parse(readFileSync(pj, 'utf8')) as { type?: unknown }).type === 'module';
      } catch {
        return false;
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return false;
    dir = parent;
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

export type LoadStep = { how: 'require' | 'import'; file: string };

/** The order in which candidate files are tried for a module path without extension. */
export function lookupOrder(basePath: string, typeModule: boolean): LoadStep[] {
  const steps: LoadStep[] = [{ how: 'require', file: basePath }];
  if (!typeModule) steps.push({ how: 'require', file: `${basePath}.js` });
  else steps.push({ how: 'import', file: `${basePath}.js` });
  steps.push({ how: 'import', file: `${basePath}.mjs` }, { how: 'require', file: `${basePath}.cjs` });
  return steps;
}

async function loadModule(taskRoot: string, h: HandlerString): Promise<unknown> {
  const basePath = path.resolve(taskRoot, h.moduleRoot, h.moduleName);
  const require = createRequire(path.join(taskRoot, 'index.js'));
  for (const step of lookupOrder(basePath, hasTypeModule(basePath))) {
    if (!isFile(step.file)) continue;
    if (step.how === 'require') return require(step.file) as unknown;
    return (await import(pathToFileURL(step.file).href)) as unknown;
  }
  const resolved = require.resolve(h.moduleName, { paths: [taskRoot, path.join(taskRoot, h.moduleRoot)] });
  return require(resolved) as unknown;
}

function findIn(handlerName: string, obj: unknown): unknown {
  return handlerName
    .split('.')
    .reduce<unknown>(
      (nested, key) =>
        nested !== null && (typeof nested === 'object' || typeof nested === 'function')
          ? (nested as Record<string, unknown>)[key]
          : undefined,
      obj,
    );
}

/** Finds the handler in a loaded module (falling back to its default export). */
export function resolveHandler(mod: unknown, h: HandlerString, full: string): Handler {
  let fn = findIn(h.handlerName, mod);
  if (fn === undefined && mod !== null && typeof mod === 'object' && 'default' in mod) {
    fn = findIn(h.handlerName, mod.default);
  }
  if (!fn) throw new RuntimeClientError(ErrorTypes.handlerNotFound, `${full} is undefined or not exported`);
  if (typeof fn !== 'function')
    throw new RuntimeClientError(ErrorTypes.handlerNotFound, `${full} is not a function`);
  return fn as Handler;
}

function isModuleNotFound(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND';
}

/** Loads the user's handler; throws the reference's init errors. */
export async function loadHandler(taskRoot: string, full: string): Promise<Handler> {
  const h = parseHandlerString(full);
  let mod: unknown;
  try {
    mod = await loadModule(taskRoot, h);
  } catch (err) {
    if (err instanceof SyntaxError) throw wrapError(ErrorTypes.userCodeSyntax, err);
    if (isModuleNotFound(err)) throw wrapError(ErrorTypes.importModule, err);
    throw err;
  }
  return resolveHandler(mod, h, full);
}
