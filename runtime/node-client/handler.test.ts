import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasTypeModule, loadHandler, lookupOrder, parseHandlerString, resolveHandler } from './handler.js';

describe('parseHandlerString', () => {
  it.each([
    {
      name: 'file.export',
      h: 'index.handler',
      want: { moduleRoot: '', moduleName: 'index', handlerName: 'handler' },
    },
    {
      name: 'nested path',
      h: 'src/api/orders.create',
      want: { moduleRoot: 'src/api', moduleName: 'orders', handlerName: 'create' },
    },
    {
      name: 'nested export',
      h: 'app.routes.v1.get',
      want: { moduleRoot: '', moduleName: 'app', handlerName: 'routes.v1.get' },
    },
    {
      name: 'dir with dots before the file',
      h: 'lib.v2/app.main',
      want: { moduleRoot: 'lib.v2', moduleName: 'app', handlerName: 'main' },
    },
  ])('parses $name', ({ h, want }) => expect(parseHandlerString(h)).toEqual(want));

  it.each([
    { name: 'no export', h: 'index', message: 'Bad handler' },
    { name: 'empty export', h: 'index.', message: 'Bad handler' },
    { name: 'empty module', h: '.handler', message: 'Bad handler' },
    {
      name: 'relative path',
      h: '../x/index.handler',
      message:
        "'../x/index.handler' is not a valid handler name. Use absolute paths when specifying root directories in handler names.",
    },
  ])('rejects $name as Runtime.MalformedHandlerName', ({ h, message }) => {
    expect(() => parseHandlerString(h)).toThrow(
      expect.objectContaining({ name: 'Runtime.MalformedHandlerName', message }),
    );
  });
});

describe('lookupOrder', () => {
  it.each([
    {
      name: 'CommonJS package',
      typeModule: false,
      want: ['require /t/index', 'require /t/index.js', 'import /t/index.mjs', 'require /t/index.cjs'],
    },
    {
      name: 'type module package',
      typeModule: true,
      want: ['require /t/index', 'import /t/index.js', 'import /t/index.mjs', 'require /t/index.cjs'],
    },
  ])('$name', ({ typeModule, want }) => {
    expect(lookupOrder('/t/index', typeModule).map((s) => `${s.how} ${s.file}`)).toEqual(want);
  });
});

describe('resolveHandler', () => {
  const fn = (): number => 1;
  const h = (handlerName: string) => ({ moduleRoot: '', moduleName: 'index', handlerName });
  it.each([
    { name: 'named export', mod: { handler: fn }, handler: 'handler' },
    { name: 'nested export', mod: { a: { b: fn } }, handler: 'a.b' },
    { name: 'default export object', mod: { default: { handler: fn } }, handler: 'handler' },
    {
      name: 'property of an exported function',
      mod: Object.assign(() => 0, { handler: fn }),
      handler: 'handler',
    },
  ])('finds a $name', ({ mod, handler }) =>
    expect(resolveHandler(mod, h(handler), `index.${handler}`)).toBe(fn),
  );

  it.each([
    { name: 'missing', mod: { other: fn }, message: 'index.handler is undefined or not exported' },
    { name: 'missing nested', mod: { a: {} }, message: 'index.handler is undefined or not exported' },
    { name: 'not a function', mod: { handler: 'x' }, message: 'index.handler is not a function' },
  ])('reports a $name handler as Runtime.HandlerNotFound', ({ mod, message }) => {
    expect(() => resolveHandler(mod, h('handler'), 'index.handler')).toThrow(
      expect.objectContaining({ name: 'Runtime.HandlerNotFound', message }),
    );
  });
});

describe('loadHandler (files in a temp task root)', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'sluice-handler-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const write = (rel: string, content: string): string => {
    const dir = path.join(root, rel.split('/')[0] ?? '');
    const file = path.join(root, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
    return dir;
  };

  it.each([
    {
      name: 'CommonJS .js',
      files: { 'a/index.js': 'exports.handler = () => "cjs";' },
      handler: 'index.handler',
      want: 'cjs',
    },
    {
      name: '.mjs',
      files: { 'b/index.mjs': 'export const handler = () => "mjs";' },
      handler: 'index.handler',
      want: 'mjs',
    },
    {
      name: '.js under type module',
      files: {
        'c/package.json': '{"type":"module"}',
        'c/index.js': 'export const handler = () => "esm-js";',
      },
      handler: 'index.handler',
      want: 'esm-js',
    },
    {
      name: '.cjs',
      files: { 'd/index.cjs': 'exports.handler = () => "cjs2";' },
      handler: 'index.handler',
      want: 'cjs2',
    },
    {
      name: '.js before .mjs',
      files: {
        'e/index.js': 'exports.handler = () => "js wins";',
        'e/index.mjs': 'export const handler = () => "mjs";',
      },
      handler: 'index.handler',
      want: 'js wins',
    },
    {
      name: 'a module from node_modules',
      files: { 'f/node_modules/pkg/index.js': 'exports.handler = () => "from node_modules";' },
      handler: 'pkg.handler',
      want: 'from node_modules',
    },
  ])('loads $name', async ({ files, handler, want }) => {
    let dir = '';
    for (const [rel, content] of Object.entries(files)) dir = write(rel, content);
    const fn = await loadHandler(dir, handler);
    expect(fn({}, {})).toBe(want);
  });

  it.each([
    {
      name: 'syntax error',
      files: { 'g/index.js': 'exports.handler = ) =>' },
      type: 'Runtime.UserCodeSyntaxError',
      message: /^SyntaxError: /,
    },
    {
      name: 'missing module',
      files: { 'h/other.js': '' },
      type: 'Runtime.ImportModuleError',
      message: /^Error: Cannot find module 'index'/,
    },
    {
      name: 'missing ESM dependency',
      files: { 'i/index.mjs': 'import "no-such-package"; export const handler = () => 1;' },
      type: 'Runtime.ImportModuleError',
      message: /Cannot find package 'no-such-package'/,
    },
    {
      name: 'module throwing',
      files: { 'j/index.js': 'throw new RangeError("boom");' },
      type: 'RangeError',
      message: /^boom$/,
    },
  ])('fails on $name with $type', async ({ files, type, message }) => {
    let dir = '';
    for (const [rel, content] of Object.entries(files)) dir = write(rel, content);
    const err = await loadHandler(dir, 'index.handler').then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.name).toBe(type);
    expect(err?.message).toMatch(message);
  });

  it('reads the nearest package.json', () => {
    write('k/package.json', '{"type":"module"}');
    write('k/sub/package.json', '{"type":"commonjs"}');
    expect(hasTypeModule(path.join(root, 'k', 'index'))).toBe(true);
    expect(hasTypeModule(path.join(root, 'k', 'sub', 'index'))).toBe(false);
  });
});
