// The dashboard's web app (src/dashboard/web, Preact) bundled into dist/dashboard/web: one
// script and one stylesheet the server serves itself (no CDN, no request elsewhere at run time).
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';

const out = new URL('../dist/dashboard/web/', import.meta.url);
await mkdir(out, { recursive: true });
await build({
  entryPoints: [new URL('../src/dashboard/web/main.tsx', import.meta.url).pathname],
  outfile: new URL('app.js', out).pathname,
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
});
await copyFile(new URL('../src/dashboard/web/app.css', import.meta.url), new URL('app.css', out));
