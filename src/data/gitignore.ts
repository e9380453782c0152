import { readFile, writeFile } from 'node:fs/promises';
import { posix } from 'node:path';

/**
 * Add `/<name>` to the .gitignore of the tracked path's folder, as `dvc add` does, so git never
 * takes the bytes. Returns the .gitignore's project-relative path.
 */
export async function ignoreTrackedPath(root: string, dataPath: string): Promise<string> {
  const file = posix.join(posix.dirname(dataPath), '.gitignore');
  const line = `/${escapeGitignore(posix.basename(dataPath))}`;
  const text = await readFile(`${root}/${file}`, 'utf8').catch(() => '');
  const lines = text.split('\n');
  if (!lines.includes(line)) await writeFile(`${root}/${file}`, text + (text === '' || text.endsWith('\n') ? '' : '\n') + line + '\n');
  return file;
}

/** A name git's pattern syntax reads literally. */
function escapeGitignore(name: string): string {
  return name.replace(/[\\*?[\]!#]/g, (c) => `\\${c}`).replace(/ $/, '\\ ');
}
