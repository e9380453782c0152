import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

/** An import of a folder of src/, from anywhere in src/. */
const into = (folder) => `**/${folder}/*`;

/**
 * One @typescript-eslint/no-restricted-imports rule per layer that forbids the layers above and
 * beside it. Activities run in the worker, so the client, the dashboard and the CLI take their
 * types only; activities take the workflows' contract (names, queries, signals, option presets),
 * the resolution of a run's modes (run-origin.ts) and workflow types. src/workflows keeps its own determinism rule below.
 */
function layerZones(layers) {
  const workflowContract = ['!**/workflows/names*', '!**/workflows/contract*', '!**/workflows/run-origin*'];
  const activityTypes = { group: [into('activities')], allowTypeImports: true, message: 'Activities run in the worker: import their types only, and reach them through a workflow (src/client); share values through the workflow contract or a lower layer.' };
  const zones = [
    {
      files: ['src/*.ts'],
      rules: {
        '@typescript-eslint/no-restricted-imports': ['error', { patterns: [{ group: layers.flatMap((l) => l.folders).map(into), message: 'src/*.ts is the ground floor (errors, logging, quoting): it imports no folder of src/.' }] }],
      },
    },
  ];
  layers.forEach((layer, i) => {
    if (layer.folders.includes('workflows')) return;
    const above = layers.slice(i + 1).flatMap((l) => l.folders);
    for (const folder of layer.folders) {
      const beside = layer.folders.filter((f) => f !== folder);
      const message = `src/${folder} holds ${layer.home}; it may not import ${[...beside, ...above].map((f) => `src/${f}`).join(', ')}. Move the shared code down into src/${folder} or a layer below it (a type, a constant, a pure function), or move the importing code up.`;
      const patterns = [];
      if (folder === 'activities') {
        patterns.push({ group: [into('workflows'), ...workflowContract], allowTypeImports: true, message: `${message} Activities may import the workflow contract (src/workflows/contract.ts, names.ts, run-origin.ts) and workflow types.` });
        patterns.push({ group: [...beside, ...above].filter((f) => f !== 'workflows').map(into), message });
      } else if (['client', 'worker', 'dashboard', 'cli'].includes(folder)) {
        if (above.length + beside.length) patterns.push({ group: [...beside, ...above].map(into), message });
        if (folder !== 'worker') patterns.push(activityTypes);
      } else {
        patterns.push({ group: [...beside, ...above].map(into), message });
      }
      zones.push({ files: [`src/${folder}/**/*.ts`, `src/${folder}/**/*.tsx`], rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns }] } });
    }
  });
  return zones;
}

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
  // The layers from the bottom up (docs/architecture.md, "Folders"): a folder imports from the layers
  // below it only, never from one above or beside it. src/*.ts (errors, logger, …) sit under them all.
  ...layerZones([
    { folders: ['config'], home: 'settings read from files and the environment, with no knowledge of projects, images or backends' },
    { folders: ['project', 'notify'], home: 'the project repository (layout, git, records) and notices, on top of config' },
    { folders: ['images'], home: 'images built from a project, on top of project and config' },
    { folders: ['data', 'lab'], home: 'datasets and the lab image, on top of images' },
    { folders: ['backends'], home: 'where jobs run, and the user config that names those places' },
    { folders: ['activities'], home: 'the steps a worker runs' },
    { folders: ['workflows'], home: 'deterministic workflows' },
    { folders: ['client'], home: 'what the CLI and the dashboard share: starting, querying and following workflows' },
    { folders: ['worker', 'dashboard'], home: 'the processes the CLI starts' },
    { folders: ['cli'], home: 'oclif commands' },
  ]),
  {
    // Workflows must stay deterministic: no Node builtins, no I/O, no wall clock.
    files: ['src/workflows/**/*.ts'],
    rules: {
      // Activities, backends and project code do I/O: workflows may import their types only.
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Node builtins are not deterministic; do I/O in an activity.' })),
          patterns: [
            { group: ['../activities/*', '../backends/*', '../project/*', '../config/*', '../client/*'], allowTypeImports: true },
            { group: ['**/worker/*', '**/dashboard/*', '**/cli/*'], message: 'src/workflows sits below the worker, the dashboard and the CLI: move what workflows need into src/workflows/contract.ts or a lower layer.' },
          ],
        },
      ],
      'no-restricted-properties': ['error', { object: 'Date', property: 'now', message: 'Use workflow time only via sleep/condition; no Date.now() in workflows.' }],
      'no-restricted-globals': ['error', 'process', 'setTimeout', 'setInterval'],
    },
  },
);
