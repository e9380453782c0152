import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeCacheDir, codeCacheFile, requireWithCodeCache } from '../../../src/cli/code-cache.js';

describe('requireWithCodeCache', () => {
  let dir: string;
  let bundle: string;
  let cache: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'code-cache-'));
    bundle = join(dir, 'bundle.cjs');
    cache = join(dir, 'cache');
    await writeFile(bundle, "const { basename } = require('node:path');\nmodule.exports = { name: basename(__filename), dir: __dirname, twice: (n) => 2 * n, load: (id) => importModule(id) };\n");
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('runs a CommonJS file as require would, writes its cache once, and reads it on the next start', async () => {
    const first = requireWithCodeCache(bundle, 'k1', cache) as { name: string; dir: string; twice: (n: number) => number; load: (id: string) => Promise<{ sep: string }> };
    expect([first.name, first.dir, first.twice(21)]).toEqual(['bundle.cjs', dir, 42]);
    expect((await first.load('node:path')).sep).toBe('/');
    const [file] = await readdir(cache);
    expect(file).toBe(`bundle.cjs-k1-${process.version}.v8`);
    const written = await readFile(join(cache, file!));
    expect((requireWithCodeCache(bundle, 'k1', cache) as { twice: (n: number) => number }).twice(2)).toBe(4);
    expect(await readdir(cache)).toEqual([file]);
    expect(await readFile(join(cache, file!))).toEqual(written);
  });

  it('another content (another hash) gets a cache of its own', async () => {
    requireWithCodeCache(bundle, 'k1', cache);
    await writeFile(bundle, 'module.exports = 7;\n');
    expect(requireWithCodeCache(bundle, 'k2', cache)).toBe(7);
    expect(await readdir(cache)).toHaveLength(2);
  });

  it('a corrupt cache is compiled past and written again', async () => {
    // A source this process never compiled: V8 would take an earlier compile over the cache.
    const n = Date.now();
    await writeFile(bundle, `module.exports = ${n};\n`);
    const file = codeCacheFile(bundle, 'k3', cache);
    await mkdir(cache);
    await writeFile(file, 'not V8 code');
    expect(requireWithCodeCache(bundle, 'k3', cache)).toBe(n);
    expect((await readFile(file)).toString()).not.toBe('not V8 code');
  });

  it('a cache that cannot be written costs only the compile', () => {
    expect(requireWithCodeCache(bundle, 'k1', join(bundle, 'not-a-dir'))).toMatchObject({ name: 'bundle.cjs' });
  });

  it('lives under XDG_CACHE_HOME, else ~/.cache', () => {
    expect(codeCacheDir({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/reprise');
    expect(codeCacheDir({})).toMatch(/\/\.cache\/reprise$/);
  });
});
