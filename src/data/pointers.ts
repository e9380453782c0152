import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Git } from '../project/git.js';
import { parsePointer, POINTER_SUFFIX, type PointerOut } from './format.js';

/** A `.dvc` file and what it tracks; `dataPath` is the tracked path relative to the project root. */
export interface PointerFile {
  /** The pointer's path relative to the project root ("/"-separated). */
  file: string;
  outs: (PointerOut & { dataPath: string })[];
}

export const withDataPaths = (file: string, outs: PointerOut[]): PointerFile => ({
  file,
  outs: outs.map((o) => ({ ...o, dataPath: posix.join(posix.dirname(file), o.path) })),
});

/** The pointer files of a commit, parsed (a hand-broken one is a one-line error naming it). */
export async function pointersAtCommit(git: Git, commit: string): Promise<PointerFile[]> {
  const files = (await git.run(['ls-tree', '-r', '-z', '--name-only', commit])).split('\0').filter((f) => f.endsWith(POINTER_SUFFIX) && !f.startsWith('.dvc/'));
  const out: PointerFile[] = [];
  for (const file of files) out.push(withDataPaths(file, parsePointer(await git.run(['show', `${commit}:${file}`]), file)));
  return out;
}

/** The pointer files in the working tree: committed or not, but not ignored ones. */
export async function workspacePointers(git: Git): Promise<PointerFile[]> {
  const files = (await git.run(['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', `*${POINTER_SUFFIX}`]))
    .split('\0')
    .filter((f) => f && !f.startsWith('.dvc/'));
  const out: PointerFile[] = [];
  for (const file of [...new Set(files)].sort()) {
    const text = await readFile(join(git.dir, file), 'utf8').catch(() => undefined);
    if (text !== undefined) out.push(withDataPaths(file, parsePointer(text, file)));
  }
  return out;
}
