// Lint carries the limits: no floating promises, explicit return types on exports, complexity.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const COMPONENTS = ['controller', 'gateway', 'poller', 'runtime'];

/**
 * One `no-restricted-imports` block per folder: a relative import that climbs out of it into
 * another component is an error, and so is one into test/ (tests and test doubles never reach
 * production code, nor the images). The regex sees the specifier as written ('../../poller/x.js').
 */
function boundaries() {
  const rule = (forbidden, from) => ({
    files: [`${from}/**/*.ts`],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(\\./)?(\\.\\./)+(${forbidden.join('|')})(/|$)`,
              message: `${from}/ may not import another component: contracts live in api/, shared helpers in lib/.`,
            },
            {
              regex: `^(\\./)?(\\.\\./)+test(/|$)`,
              message: `${from}/ may not import from test/: test support and test doubles stay out of production code.`,
            },
          ],
        },
      ],
    },
  });
  return [
    ...COMPONENTS.map((c) =>
      rule(
        COMPONENTS.filter((o) => o !== c),
        c,
      ),
    ),
    rule(COMPONENTS, 'api'),
    rule(COMPONENTS, 'lib'),
  ];
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.cluster/**', 'api/generated/**', 'deploy/**', 'charts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      complexity: ['error', 20],
      'max-depth': ['error', 4],
      'max-lines-per-function': ['warn', { max: 120, skipBlankLines: true, skipComments: true }],
      'no-console': 'error',
    },
  },
  // Components never import each other: contracts come from api/, helpers from lib/ (api/, lib/
  // import no component). Tests and test/ may import anything.
  ...boundaries(),
  {
    files: ['test/**/*.ts', '**/*.test.ts'],
    rules: {
      '@typescript-eslint/explicit-module-boundary-types': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Optional chains in assertions count as branches; limits are for production code.
      complexity: 'off',
      'max-lines-per-function': 'off',
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
    // Plain JavaScript has no type annotations to require.
    rules: {
      'no-console': 'off',
      '@typescript-eslint/explicit-module-boundary-types': 'off',
      '@typescript-eslint/explicit-function-return-type': 'off',
    },
  },
);
