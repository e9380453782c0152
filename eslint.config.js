import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/infra/.state/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.js'],
    languageOptions: { globals: { URL: 'readonly', console: 'readonly', process: 'readonly' } },
  },
  {
    // The dashboard is a client like the CLI: it shares the CLI's code through src/client and below, never src/cli.
    files: ['src/dashboard/**/*.ts', 'src/dashboard/**/*.tsx'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [{ group: ['**/cli/*'], message: 'The dashboard depends on lower layers only: move what both need into src/client.' }] }],
    },
  },
  {
    // Workflows must stay deterministic: no Node builtins, no I/O, no wall clock.
    files: ['src/workflows/**/*.ts'],
    rules: {
      // Activities, backends and project code do I/O: workflows may import their types only.
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Node builtins are not deterministic; do I/O in an activity.' })),
          patterns: [{ group: ['../activities/*', '../backends/*', '../project/*', '../config/*', '../client/*'], allowTypeImports: true }],
        },
      ],
      'no-restricted-properties': ['error', { object: 'Date', property: 'now', message: 'Use workflow time only via sleep/condition; no Date.now() in workflows.' }],
      'no-restricted-globals': ['error', 'process', 'setTimeout', 'setInterval'],
    },
  },
);
