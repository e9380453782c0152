// `reprise sync` and the user's own edits under output/: runs write there, so sync never sweeps
// it into a commit; an edit made there by hand is never overwritten by what the remote brings.
// Sync refuses (exit 2, each file named with how to keep it, nothing changed) instead. (It
// refused before too, in words that did not say which of the user's files or what to do.)
import { describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { addRemote, cloneProject } from '../../../src/project/remotes.js';
import { sync } from '../../../src/project/sync.js';
import { git, makeProject, repoState, tempDir } from '../../helpers/project.js';
import { bareRemote, recordFakeRun, userError } from '../../helpers/sync.js';

/** Alice's project with one run's output, pushed; Bob's clone of it. */
async function twoClones() {
  const remote = await bareRemote();
  const alice = (await makeProject({ files: { 'code/x.py': 'x = 1\n' } })).root;
  await recordFakeRun(alice, 'run-1', { 'result.txt': 'from run 1\n' });
  await addRemote(alice, 'origin', remote);
  await sync(alice, {});
  const bob = (await cloneProject(remote, 'bob', await tempDir())).root;
  return { alice, bob };
}

describe('sync and local edits under output/', () => {
  it('an edited output file that the remote also changed: refused with exit 2, naming it; the edit and the project untouched', async () => {
    const { alice, bob } = await twoClones();
    await writeFile(join(bob, 'output/result.txt'), "bob's own notes\n");
    await recordFakeRun(alice, 'run-2', { 'result.txt': 'from run 2\n' });
    await sync(alice, {});
    const before = repoState(bob);
    const err = await userError(sync(bob, {}));
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe("merging would overwrite your edits to output/result.txt, nothing was changed; keep them elsewhere (or commit them: git add -f 'output/result.txt' && git commit) and try again");
    expect(await readFile(join(bob, 'output/result.txt'), 'utf8')).toBe("bob's own notes\n");
    expect(repoState(bob)).toEqual(before);
  });

  it('a file of its own under output/ that the remote now has too: refused the same way, the file kept', async () => {
    const { alice, bob } = await twoClones();
    await writeFile(join(bob, 'output/new.txt'), 'made by hand\n');
    await recordFakeRun(alice, 'run-2', { 'new.txt': 'from run 2\n' });
    await sync(alice, {});
    const err = await userError(sync(bob, {}));
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe("merging would overwrite your edits to output/new.txt, nothing was changed; keep them elsewhere (or commit them: git add -f 'output/new.txt' && git commit) and try again");
    expect(await readFile(join(bob, 'output/new.txt'), 'utf8')).toBe('made by hand\n');
  });

  it('an edited output file the remote did not change: sync goes ahead and the edit stays, uncommitted', async () => {
    const { alice, bob } = await twoClones();
    await writeFile(join(bob, 'output/result.txt'), "bob's own notes\n");
    await writeFile(join(alice, 'code/x.py'), 'x = 2\n');
    await sync(alice, {});
    expect(await sync(bob, {})).toMatchObject({ integrated: 'fast-forward' });
    expect(await readFile(join(bob, 'code/x.py'), 'utf8')).toBe('x = 2\n');
    expect(await readFile(join(bob, 'output/result.txt'), 'utf8')).toBe("bob's own notes\n");
    expect(git(bob, 'status', '--porcelain')).toBe(' M output/result.txt\n');
  });
});
