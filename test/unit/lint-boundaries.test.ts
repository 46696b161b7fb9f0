import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../api/paths.js';

/**
 * The component boundary in eslint.config.js: controller/, gateway/, poller/ and runtime/ never
 * import each other (nor do api/ and lib/ import them); contracts come from api/, helpers from lib/.
 * The project's own config is used as it is, with type-aware linting off (the rule is syntactic and
 * the fixtures are not files of the program).
 */
const eslint = new ESLint({ cwd: ROOT, overrideConfig: [tseslint.configs.disableTypeChecked] });

async function importErrors(filePath: string, specifier: string): Promise<string[]> {
  const text = `import { x } from '${specifier}';\n\nexport const y: unknown = x;\n`;
  const [result] = await eslint.lintText(text, { filePath });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'no-restricted-imports')
    .map((m) => `${m.severity === 2 ? 'error' : 'warning'}: ${m.message}`);
}

describe('lint: components import contracts from api/ and helpers from lib/, never each other', () => {
  it.each([
    { name: 'the poller importing the gateway', file: 'poller/main.ts', spec: '../gateway/async/x.js' },
    {
      name: 'a nested poller file importing the gateway',
      file: 'poller/sources/x.ts',
      spec: '../../gateway/x.js',
    },
    { name: 'the gateway importing the poller', file: 'gateway/async/x.ts', spec: '../../poller/mapping.js' },
    { name: 'the gateway importing the runtime', file: 'gateway/x.ts', spec: '../runtime/index.js' },
    {
      name: 'the controller importing the gateway',
      file: 'controller/function/x.ts',
      spec: '../../gateway/arn.js',
    },
    { name: 'the runtime importing the controller', file: 'runtime/x.ts', spec: '../controller/config.js' },
    { name: 'api/ importing a component', file: 'api/x.ts', spec: '../gateway/errors.js' },
    { name: 'lib/ importing a component', file: 'lib/nats/x.ts', spec: '../../poller/state.js' },
  ])('$name is an error', async ({ file, spec }) => {
    const errors = await importErrors(file, spec);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^error: .* may not import another component: contracts live in api\//);
  });

  it.each([
    {
      name: 'a component importing a test double',
      file: 'poller/main.ts',
      spec: '../test/support/poller/fake-invoker.js',
    },
    { name: 'lib/ importing test support', file: 'lib/shutdown.ts', spec: '../test/support/time.js' },
  ])('$name is an error', async ({ file, spec }) => {
    const errors = await importErrors(file, spec);
    expect(errors).toEqual([
      expect.stringMatching(/^error: .* may not import from test\/: test support and test doubles/),
    ]);
  });

  it.each([
    { name: 'a component importing api/', file: 'poller/main.ts', spec: '../api/nats-naming.js' },
    {
      name: 'a nested component file importing lib/',
      file: 'gateway/async/x.ts',
      spec: '../../lib/errors.js',
    },
    { name: 'a component importing itself', file: 'gateway/async/x.ts', spec: '../invoke/internal.js' },
    { name: 'a package', file: 'runtime/x.ts', spec: 'express' },
    { name: 'api/ importing lib/', file: 'api/x.ts', spec: '../lib/errors.js' },
    { name: 'a test importing another component', file: 'poller/x.test.ts', spec: '../gateway/x.js' },
    { name: 'test support importing components', file: 'test/support/x.ts', spec: '../../gateway/x.js' },
  ])('$name is allowed', async ({ file, spec }) => {
    expect(await importErrors(file, spec)).toEqual([]);
  });
});
