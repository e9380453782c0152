// Shared by the tests that stage tracked inputs on a cluster: a project's inputs in its local
// cache, a sources directory as the stage activity exports it, and staging data whose store calls
// are counted (the worker's requests to the store).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stageDataFor } from '../../../src/activities/data-staging.js';
import type { DataStaged, StageData } from '../../../src/backends/types.js';
import { addFileToCache, localCacheDir } from '../../../src/data/cache.js';
import { md5File } from '../../../src/data/hash.js';
import type { RunInputFile } from '../../../src/data/run-data.js';

/** `content` written under `root` and added to its local cache; the files as a run's inputs. */
export async function cachedInputs(root: string, content: Record<string, Buffer>): Promise<RunInputFile[]> {
  const cacheDir = await localCacheDir(root);
  const out: RunInputFile[] = [];
  for (const [path, bytes] of Object.entries(content)) {
    const local = join(root, path);
    await mkdir(join(local, '..'), { recursive: true });
    await writeFile(local, bytes);
    const md5 = await md5File(local);
    await addFileToCache(cacheDir, local, md5, false);
    out.push({ path, md5, size: bytes.length });
  }
  return out;
}

/**
 * `dir` made a sources directory as the activity exports it: code and output/ empty; for a
 * backend that stages tracked inputs by digest (SLURM, Kubernetes) none of the inputs, else
 * (`withInputs`, a Docker job given no data mounts) the inputs in, read-only as links to the cache are.
 */
export async function sourcesWith(dir: string, root: string, files: RunInputFile[], withInputs = false): Promise<string> {
  await mkdir(join(dir, 'output'), { recursive: true });
  await writeFile(join(dir, 'code.sh'), 'echo code\n');
  for (const f of withInputs ? files : []) {
    await mkdir(join(dir, f.path, '..'), { recursive: true });
    await writeFile(join(dir, f.path), await readFile(join(root, f.path)), { mode: 0o444 });
  }
  return dir;
}

/** The activity's staging data for `files`, its store calls counted and what it staged kept. */
export async function countedStaging(root: string, files: RunInputFile[]): Promise<{ data: StageData; calls: { has: number; presign: number }; staged: DataStaged[]; close(): void }> {
  const staged: DataStaged[] = [];
  const { data, close } = await stageDataFor(root, files, { info: () => undefined, warn: () => undefined });
  const calls = { has: 0, presign: 0 };
  const store = data.store!;
  return {
    data: { ...data, onStaged: (s) => staged.push(s), store: { has: (m) => (calls.has++, store.has(m)), presignGet: (m, e, x) => (calls.presign++, store.presignGet(m, e, x)) } },
    calls,
    staged,
    close,
  };
}

/** What a job printing `md5sum` of every input (sorted by path) prints. */
export const md5Listing = (files: RunInputFile[]): string => [...files].sort((a, b) => (a.path < b.path ? -1 : 1)).map((f) => `${f.md5}  ${f.path}\n`).join('');
