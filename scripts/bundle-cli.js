// @oclif/core is ~120 CommonJS files (with its dependencies) that Node resolves, stats and
// compiles one by one on every start of the CLI, whatever the command: bundled into one file,
// dist/oclif-core.cjs, behind dist/oclif-core.js that bin/run.js and every compiled import of
// '@oclif/core' load instead.
// Our own modules stay as tsc emits them: several find files next to themselves (import.meta.url).
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const bundle = join(dist, 'oclif-core.js');

const { outputFiles } = await build({
  entryPoints: [createRequire(import.meta.url).resolve('@oclif/core')],
  outfile: join(dist, 'oclif-core.cjs'),
  write: false,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // Asked for only when oclif runs TypeScript sources or checks engines itself (bin/run.js does).
  external: ['typescript', 'semver'],
  legalComments: 'none',
  logLevel: 'warning',
});
// The bundle runs as a script with V8's code cache (cli/code-cache.ts), where import() fails on
// Node 20: its import()s (oclif's of command files) call the importModule that loader passes in.
const code = outputFiles[0].text;
const imports = code.match(/\bawait import\(/g)?.length ?? 0;
const rewritten = code.replaceAll(/\bawait import\(/g, 'await importModule(');
if (imports === 0 || /[^.\w"'`]import\(/.test(rewritten.replaceAll(/"import\(\)"/g, ''))) throw new Error('oclif-core.cjs: an import() the rewrite did not reach');
await writeFile(join(dist, 'oclif-core.cjs'), rewritten);
// The ESM face of the bundle, loaded through V8's code cache (cli/code-cache.ts). A CommonJS
// module's names are not known to ESM statically: they are listed here.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
const names = Object.keys(createRequire(import.meta.url)('@oclif/core'));
await writeFile(
  bundle,
  [
    "import { fileURLToPath } from 'node:url';",
    "import { requireWithCodeCache } from './cli/code-cache.js';",
    `const core = requireWithCodeCache(fileURLToPath(new URL('./oclif-core.cjs', import.meta.url)), '${createHash('sha1').update(rewritten).digest('hex')}');`,
    `export const { ${names.join(', ')} } = core;`,
    '',
  ].join('\n'),
);

// Every compiled module that imports '@oclif/core' imports the bundle, so one copy is loaded.
async function* jsFiles(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* jsFiles(path);
    else if (entry.name.endsWith('.js')) yield path;
  }
}
for await (const file of jsFiles(join(dist, 'cli'))) {
  const text = await readFile(file, 'utf8');
  if (!text.includes("from '@oclif/core';")) continue;
  let target = relative(dirname(file), bundle);
  if (!target.startsWith('.')) target = `./${target}`;
  await writeFile(file, text.replaceAll("from '@oclif/core';", `from '${target}';`));
}
