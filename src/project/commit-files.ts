import { notFound } from '../errors.js';
import { Git } from './git.js';
import { moveIndex, publishOnBranch, withRecordLock, withTempIndex } from './history.js';

/**
 * One commit on the checked-out branch holding exactly `paths` as they are in the working tree
 * (and `untrack` removed from git), nothing else the user has pending; built in a private index,
 * published with compare-and-swap, the user's index moved along. Undefined when nothing changed.
 */
export async function commitWorkspaceFiles(root: string, paths: string[], untrack: string[], message: string): Promise<string | undefined> {
  const git = new Git(root);
  const literal = { GIT_LITERAL_PATHSPECS: '1' };
  return withRecordLock(git, async () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const ref = await git.headRef();
      const head = await git.revParse('HEAD');
      if (!head) throw notFound(`the project at ${root} has no commits; commit something first`);
      const commit = await withTempIndex(git, 'data', async (env) => {
        await git.run(['read-tree', head], { env });
        if (paths.length) await git.run(['add', '-A', '-f', '--', ...paths], { env: { ...env, ...literal } });
        if (untrack.length) await git.run(['rm', '-r', '-q', '--cached', '--ignore-unmatch', '--', ...untrack], { env: { ...env, ...literal } });
        const tree = (await git.run(['write-tree'], { env })).trim();
        if (tree === (await git.run(['rev-parse', `${head}^{tree}`])).trim()) return undefined;
        return git.commitTree(tree, [head], message, await git.identityEnv());
      });
      if (!commit) return undefined;
      // The index held from before the swap until it follows (publishOnBranch): ref is HEAD's.
      if (await publishOnBranch(git, ref, commit, head, 'reprise: data', (env) => moveIndex(git, head, commit, undefined, env))) return commit;
    }
    throw new Error('could not commit: the branch kept moving; retry');
  });
}
