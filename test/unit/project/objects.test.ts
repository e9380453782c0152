import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { Git } from '../../../src/project/git.js';
import { treeWith, writeBlob, type PathChange } from '../../../src/project/objects.js';
import { git, makeProject } from '../../helpers/project.js';

/** The tree git's own index makes of `base` plus the same changes (what records were built with before). */
function indexTree(root: string, base: string, changes: PathChange[]): string {
  const env = { ...process.env, GIT_INDEX_FILE: `${root}/.git/test-index` };
  const run = (args: string[], input?: string) => execFileSync('git', args, { cwd: root, env, input, encoding: 'utf8' });
  run(['read-tree', base]);
  run(['update-index', '-z', '--add', '--index-info'], changes.map((c) => `${c.mode} ${c.oid}\t${c.path}\0`).join(''));
  return run(['write-tree']).trim();
}

describe('treeWith', () => {
  it('makes the tree git write-tree makes of the base plus the changes: new folders, replaced and removed files, git order', async () => {
    const p = await makeProject({
      files: { 'a/x.txt': 'x\n', 'a-b': 'file\n', 'a.txt': 'dot\n', 'gone/only.txt': 'bye\n', 'output/old.txt': 'old\n', 'output/keep.txt': 'keep\n' },
    });
    const g = new Git(p.root);
    const head = git(p.root, 'rev-parse', 'HEAD').trim();
    const blob = (text: string) => writeBlob(g, text);
    const changes: PathChange[] = [
      { mode: '100644', oid: await blob('new\n'), path: 'a/y.txt' },
      { mode: '100644', oid: await blob('c\n'), path: 'a/c.txt' },
      { mode: '100644', oid: await blob('z\n'), path: 'a/d/z.txt' },
      { mode: '100644', oid: await blob('b\n'), path: 'a-a' },
      { mode: '100644', oid: await blob('deep\n'), path: 'new/deep/er/file with space.txt' },
      { mode: '100644', oid: await blob('replaced\n'), path: 'output/old.txt' },
      { mode: '100755', oid: await blob('#!/bin/sh\n'), path: 'a.sh' },
      { mode: '0', oid: '0'.repeat(40), path: 'gone/only.txt' },
      { mode: '100644', oid: await blob('é\n'), path: 'output/ünïcode.txt' },
    ];
    const { tree, prior } = await treeWith(g, head, changes);
    expect(tree).toBe(indexTree(p.root, head, changes));
    expect(git(p.root, 'fsck', '--no-dangling', '--strict').trim()).toBe('');
    expect(prior.get('output/old.txt')).toEqual({ mode: '100644', oid: git(p.root, 'rev-parse', 'HEAD:output/old.txt').trim() });
    expect(prior.get('a/y.txt')).toBeUndefined();
    expect(git(p.root, 'show', `${tree}:new/deep/er/file with space.txt`)).toBe('deep\n');
    expect(git(p.root, 'ls-tree', tree, 'gone')).toBe(''); // emptied: left out
  });

  it('refuses a file where the base has a folder', async () => {
    const p = await makeProject({ files: { 'output/sub/x.txt': 'x\n' } });
    const g = new Git(p.root);
    const head = git(p.root, 'rev-parse', 'HEAD').trim();
    await expect(treeWith(g, head, [{ mode: '100644', oid: await writeBlob(g, 'f\n'), path: 'output/sub' }])).rejects.toThrow('output/sub: it is a directory');
  });
});
