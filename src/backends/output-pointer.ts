import { mkdir, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { POINTER_SUFFIX, serializePointer } from '../data/format.js';
import type { DataFile } from './types.js';

/**
 * In a collect's destination (output/'s contents), the `.dvc` pointer of an output that went to
 * the data store instead: written after extraction, so it replaces a job's own file of that name.
 */
export async function writeOutputPointer(destDir: string, f: DataFile): Promise<void> {
  const rel = f.path.slice('output/'.length);
  const file = join(destDir, ...`${rel}${POINTER_SUFFIX}`.split('/'));
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, serializePointer({ md5: f.md5, size: f.size, path: posix.basename(rel) }));
}
