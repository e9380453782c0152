import { describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { addRemote } from '../../../../src/project/remotes.js';
import { sync } from '../../../../src/project/sync.js';
import { pushDataOfNewCommits, selectOuts, type TrackedOut } from '../../../../src/data/store/transfer.js';
import { git, makeProject, repoState } from '../../../helpers/project.js';
import { bareRemote, userError } from '../../../helpers/sync.js';

const file = (dataPath: string): TrackedOut => ({ md5: 'a'.repeat(32), size: 3, path: dataPath.split('/').pop()!, dataPath });
const folder = (dataPath: string): TrackedOut => ({ md5: `${'b'.repeat(32)}.dir`, size: 9, nfiles: 3, path: dataPath.split('/').pop()!, dataPath });

describe('selectOuts', () => {
  const outs = [file('input/a.csv'), folder('input/images'), file('other/b.bin')];

  it('everything without paths; a tracked path, or a folder holding tracked paths, whole', () => {
    expect(selectOuts(outs, undefined).map((s) => s.out.dataPath)).toEqual(['input/a.csv', 'input/images', 'other/b.bin']);
    expect(selectOuts(outs, ['input'])).toEqual([{ out: outs[0] }, { out: outs[1] }]);
    expect(selectOuts(outs, ['other/b.bin'])).toEqual([{ out: outs[2] }]);
    expect(selectOuts(outs, ['.']).length).toBe(3);
  });

  it('a path inside a tracked folder selects only that part of it', () => {
    expect(selectOuts(outs, ['input/images/cats'])).toEqual([{ out: outs[1], within: 'cats' }]);
  });

  it('a path no pointer covers is bad input', async () => {
    expect(() => selectOuts(outs, ['input/nope.csv'])).toThrow('input/nope.csv is not tracked data (no .dvc pointer covers it); see: reprise data status');
    expect(() => selectOuts(outs, ['../elsewhere'])).toThrow(/^\.\.\/elsewhere is not tracked data/);
  });
});

describe('pushDataOfNewCommits (before sync pushes commits)', () => {
  const pointer = 'outs:\n- md5: 0cc175b9c0f1b6a831c399e269772661\n  size: 1\n  hash: md5\n  path: a.csv\n';

  it('commits that bring no pointer move no data and need no data remote', async () => {
    const { root } = await makeProject({ files: { 'code/x.py': 'x\n' } });
    expect(await pushDataOfNewCommits(root, git(root, 'rev-parse', 'HEAD').trim(), [])).toEqual({ objects: 0, transferred: 0, bytes: 0 });
  });

  it('pointers the remote has already are not pushed again', async () => {
    const { root } = await makeProject({ files: { 'input/a.csv.dvc': pointer } });
    const first = git(root, 'rev-parse', 'HEAD').trim();
    await writeFile(join(root, 'code.py'), 'y\n');
    git(root, 'add', '-A');
    git(root, 'commit', '-qm', 'code only');
    expect(await pushDataOfNewCommits(root, git(root, 'rev-parse', 'HEAD').trim(), [first])).toMatchObject({ objects: 0 });
  });

  it('a sync whose commits track data, in a project without a data remote, is refused before anything is pushed', async () => {
    const remote = await bareRemote();
    const { root } = await makeProject({ files: { 'input/a.csv.dvc': pointer } });
    await addRemote(root, 'origin', remote);
    const before = repoState(root);
    const err = await userError(sync(root, { beforePush: (head, theirs) => pushDataOfNewCommits(root, head, theirs).then(() => undefined) }));
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe('the commits to push track data (input/a.csv) but the project has no data remote to hold it; set one first: reprise data remote set s3://bucket/prefix');
    expect(git(remote, 'for-each-ref')).toBe('');
    expect(repoState(root)).toEqual(before);
  });
});
