import { existsSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { badInput } from '../errors.js';
import { Git, gitReason } from './git.js';
import { PROJECT_FILE } from './layout.js';
import { intoNewDirectory } from './new-directory.js';

/** The whole history (every branch) as one git bundle; written aside and renamed, so a failure leaves no half file. */
export async function exportBundle(root: string, file: string): Promise<{ file: string; bytes: number; branches: number }> {
  const git = new Git(root);
  const dest = resolve(file);
  const partial = join(dirname(dest), `.${basename(dest)}.partial-${process.pid}`);
  try {
    await git.run(['bundle', 'create', '--quiet', partial, '--all']);
    await rename(partial, dest);
  } finally {
    await rm(partial, { force: true });
  }
  const branches = (await git.run(['for-each-ref', 'refs/heads', '--format=x'])).split('\n').filter(Boolean).length;
  return { file: dest, bytes: (await stat(dest)).size, branches };
}

/**
 * A project from an export: verified (`git bundle verify`) inside a fresh repository made beside
 * the destination, every branch fetched, the exporter's checked-out branch checked out. Moved
 * into place only once it is a Reprise project, so a corrupt file leaves nothing behind.
 */
export async function importBundle(file: string, dir: string | undefined, cwd: string): Promise<{ root: string; branches: string[]; head: string }> {
  const bundle = resolve(cwd, file);
  if (!existsSync(bundle)) throw badInput(`no file ${bundle}`);
  const root = resolve(cwd, dir ?? basename(bundle, extname(bundle)));
  return intoNewDirectory(root, 'import', async (staging) => {
    await new Git(cwd).run(['init', '--quiet', staging]);
    const git = new Git(staging);
    let heads: [string, string][];
    try {
      // verify checks the header and prerequisites; the fetch's index-pack checks every object.
      await git.run(['bundle', 'verify', '--quiet', bundle]);
      heads = (await git.run(['bundle', 'list-heads', bundle])).split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]);
      await git.run(['fetch', '--quiet', '--update-head-ok', bundle, 'refs/heads/*:refs/heads/*']);
    } catch (err) {
      throw badInput(`${bundle} is not a valid Reprise export (${gitReason(err)}); nothing was imported`);
    }
    const branches = heads.filter(([, ref]) => ref.startsWith('refs/heads/')).map(([, ref]) => ref.slice('refs/heads/'.length));
    if (branches.length === 0) throw badInput(`${bundle} holds no branch; nothing was imported`);
    // A bundle does not say which branch HEAD named: take the one at HEAD's commit, main first.
    const headCommit = heads.find(([, ref]) => ref === 'HEAD')?.[0];
    const atHead = branches.filter((b) => heads.some(([c, ref]) => ref === `refs/heads/${b}` && c === headCommit));
    const head = ['main', 'master'].find((b) => atHead.includes(b)) ?? atHead[0] ?? branches[0]!;
    await git.run(['symbolic-ref', 'HEAD', `refs/heads/${head}`]);
    await git.run(['reset', '--quiet', '--hard']);
    if (!existsSync(join(staging, PROJECT_FILE))) throw badInput(`${bundle} is not a Reprise project (no ${PROJECT_FILE}); nothing was imported`);
    return { root, branches, head };
  });
}
