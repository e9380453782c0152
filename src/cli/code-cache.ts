/**
 * Loads a CommonJS bundle (the build's dist/oclif-core.cjs) with V8's code cache, so a CLI start
 * deserialises compiled code instead of compiling half a megabyte of JavaScript: Node 20 has no
 * module.enableCompileCache. The cache lives in $XDG_CACHE_HOME/reprise (~/.cache/reprise), one
 * file per bundle content (its hash, taken at build time: hashing here would load node:crypto on
 * every start) and Node version; a missing, unreadable or rejected cache (V8 checks its own version
 * and flags) only costs a compile, and is written again.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';

export function codeCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'reprise');
}

/** The cache of `file` whose content hashes to `contentHash`, compiled by this Node. */
export function codeCacheFile(file: string, contentHash: string, cacheDir: string): string {
  return join(cacheDir, `${basename(file)}-${contentHash}-${process.version}.v8`);
}

export function requireWithCodeCache(file: string, contentHash: string, cacheDir = codeCacheDir()): unknown {
  const source = readFileSync(file, 'utf8');
  const cacheFile = codeCacheFile(file, contentHash, cacheDir);
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // none yet: compiled below and written
  }
  // CommonJS's wrapper, and `importModule` for the bundle's import()s (rewritten so at build
  // time): on Node 20 a script read from a code cache loses its import() callback.
  const script = new Script(`(function (exports, require, module, __filename, __dirname, importModule) {${source}\n})`, { filename: file, cachedData });
  const module = { exports: {} as unknown };
  const importModule = (specifier: string) => import(specifier);
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(file), module, file, dirname(file), importModule);
  // After the bundle ran, so the functions its start compiled are in the cache too.
  if (!cachedData || script.cachedDataRejected) {
    try {
      mkdirSync(cacheDir, { recursive: true });
      const partial = `${cacheFile}.${process.pid}`;
      writeFileSync(partial, script.createCachedData());
      renameSync(partial, cacheFile);
    } catch {
      // a read-only or full disk: the next start compiles again
    }
  }
  return module.exports;
}
