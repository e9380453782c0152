// The run's sources as a tar, for the backends that ship them (SLURM over SFTP, Kubernetes over
// exec): one checker and one archiver, so what is refused is the same everywhere.
import { execFile } from 'node:child_process';
import { readdir, readlink } from 'node:fs/promises';
import { isAbsolute, join, posix, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { badInput } from '../errors.js';

const run = promisify(execFile);

/**
 * Symbolic links in a source tree must stay inside it: a link to an absolute path or one that
 * climbs out with `..` is refused before the tree is shipped to the cluster.
 */
export async function checkSourceTree(root: string): Promise<void> {
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isSymbolicLink()) {
        const target = await readlink(path);
        const rel = relative(root, path).split(sep).join('/');
        const resolved = posix.normalize(posix.join(posix.dirname(rel), target));
        if (isAbsolute(target) || resolved === '..' || resolved.startsWith('../')) {
          throw badInput(`the source file ${rel} is a symbolic link to ${target}, outside the project; replace it with the file or a link inside the project`);
        }
      } else if (!entry.isFile()) {
        throw badInput(`the source entry ${relative(root, path)} is neither a file, a directory nor a link; remove it from the project`);
      }
    }
  };
  await walk(root);
}

/**
 * Archive a checked source tree with neutral ownership (the pod's user owns what it extracts).
 * The top entries are listed one by one, never `.`: a non-root pod cannot chmod or utime the
 * mount it extracts into, and GNU tar fails on a `./` member it may not change.
 */
export async function archiveSources(root: string, tarFile: string, options: { exclude?: string[] } = {}): Promise<void> {
  await checkSourceTree(root);
  const entries = (await readdir(root)).sort().map((name) => `./${name}`);
  // Project paths left out (tracked data the backend stages by digest), each with what is under it.
  const excludes = (options.exclude ?? []).flatMap((p) => ['--anchored', '--no-wildcards', `--exclude=./${p}`]);
  await run('tar', ['-c', '-f', tarFile, '-C', root, '--owner=0', '--group=0', '--numeric-owner', ...excludes, ...(entries.length ? ['--', ...entries] : ['--files-from=/dev/null'])]);
}
