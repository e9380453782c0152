import { execFile } from 'node:child_process';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { promisify } from 'node:util';
import { badInput } from '../../errors.js';

const run = promisify(execFile);

/** A member name that extracts inside the target directory: relative, no `..` component. */
export function isSafeMemberName(name: string): boolean {
  if (name === '' || name.startsWith('/') || name.includes('\0') || name.includes('\\')) return false;
  return !name.split('/').includes('..');
}

/** A symlink whose target, resolved from where it lives, stays inside the tree. */
export function isContainedLink(linkPath: string, target: string): boolean {
  if (isAbsolute(target)) return false;
  const resolved = normalize(join(linkPath, '..', target));
  return resolved !== '..' && !resolved.startsWith(`..${sep}`) && !isAbsolute(resolved);
}

async function checkLinks(root: string, dir = ''): Promise<void> {
  for (const entry of await readdir(join(root, dir), { withFileTypes: true })) {
    const rel = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.isSymbolicLink()) {
      const target = await readlink(join(root, rel));
      if (!isContainedLink(rel, target)) throw badInput(`sources contain a symlink leaving the project: ${rel} -> ${target}; remove it or make it relative inside the project`);
    } else if (entry.isDirectory()) {
      await checkLinks(root, rel);
    }
  }
}

/**
 * The run's sources as a tar for `tar -x --no-same-owner` on the cluster. Every member name is
 * checked before upload, so extraction cannot write outside the run's project directory.
 */
export async function createSourcesArchive(sourcesDir: string, tarPath: string): Promise<void> {
  if (!(await lstat(sourcesDir)).isDirectory()) throw new Error(`${sourcesDir} is not a directory`);
  await checkLinks(sourcesDir);
  await run('tar', ['-cf', tarPath, '-C', sourcesDir, '.']);
  const { stdout } = await run('tar', ['-tf', tarPath], { maxBuffer: 256 * 2 ** 20 });
  for (const name of stdout.split('\n').filter(Boolean)) {
    const member = name === '.' || name === './' ? '' : name.replace(/^\.\//, '').replace(/\/$/, '');
    if (member !== '' && !isSafeMemberName(member)) throw badInput(`refusing to ship sources: unsafe archive member "${name}"`);
  }
}
