// A lab checkpoint's copy-back that fails halfway leaves the working tree as it was. The failure
// is injected into the file system calls (a disk that fills up on the second file), the only
// fake here: the repository, git and the files are real.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { recordLabCheckpoint, type LabCheckpoint } from '../../../src/project/lab-history.js';
import { git, makeProject, repoState, tempDir } from '../../helpers/project.js';

type Inject = (src: string, dest: string) => boolean;
const inject = vi.hoisted(() => ({ copyFile: (() => false) as Inject, rename: (() => false) as Inject }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const noSpace = () => Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  const copyFile: typeof fs.copyFile = async (src, dest, mode) => {
    if (inject.copyFile(String(src), String(dest))) throw noSpace();
    return fs.copyFile(src, dest, mode);
  };
  const rename: typeof fs.rename = async (src, dest) => {
    if (inject.rename(String(src), String(dest))) throw Object.assign(new Error('EIO: i/o error, rename'), { code: 'EIO' });
    return fs.rename(src, dest);
  };
  return { ...fs, copyFile, rename, default: { ...fs, copyFile, rename } };
});

beforeEach(() => {
  inject.copyFile = () => false;
  inject.rename = () => false;
});

const LAB = 'lab-copyback0001';
const FILES = { 'code/a.py': 'a = 1\n', 'code/b.py': 'b = 1\n', 'code/c.py': 'c = 1\n' };

async function labProject() {
  const p = await makeProject({ files: FILES });
  const dir = await tempDir('lab-collected-');
  for (const [path, content] of Object.entries({ 'code/a.py': 'a = 2\n', 'code/b.py': 'b = 2\n', 'code/c.py': 'c = 2\n', 'code/new.py': 'new\n' })) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  const source = git(p.root, 'rev-parse', 'HEAD').trim();
  const checkpoint: LabCheckpoint = {
    record: {
      version: 1,
      kind: 'lab',
      labId: LAB,
      project: { name: 'proj', id: 'p1' },
      backend: { name: 'local', kind: 'docker', jobId: 'c0ffee' },
      sourceCommit: source,
      image: { digest: 'sha256:aaa' },
      labImage: { digest: 'sha256:bbb' },
      environment: 'env1',
      checkpoint: 1,
      state: 'running',
      startedAt: '2026-12-01T00:00:00.000Z',
      at: '2026-12-01T00:01:00.000Z',
    },
    collectedDir: dir,
    skipped: [],
    complete: true,
    always: false,
  };
  return { root: p.root, checkpoint };
}

const workingTree = async (root: string) => Object.fromEntries(await Promise.all(['code/a.py', 'code/b.py', 'code/c.py', 'code/new.py'].map(async (f) => [f, await readFile(join(root, f), 'utf8').catch(() => null)])));
const leftovers = (root: string) => readdirSync(join(root, '.git')).filter((n) => n.startsWith('reprise-copy-back'));

describe('lab copy-back, all or nothing', () => {
  it('a copy that fails on the second file (disk full): nothing is committed and the working tree is as it was; the retry brings everything', async () => {
    const { root, checkpoint } = await labProject();
    const before = repoState(root);
    inject.copyFile = (src) => src.endsWith('code/b.py');
    await expect(recordLabCheckpoint(root, checkpoint)).rejects.toThrow(/ENOSPC/);
    expect(repoState(root)).toEqual(before);
    expect(await workingTree(root)).toEqual({ ...FILES, 'code/new.py': null });
    expect(leftovers(root)).toEqual([]);
    inject.copyFile = () => false;
    const retried = await recordLabCheckpoint(root, checkpoint);
    expect(retried.commit).toBeDefined();
    expect(await workingTree(root)).toEqual({ 'code/a.py': 'a = 2\n', 'code/b.py': 'b = 2\n', 'code/c.py': 'c = 2\n', 'code/new.py': 'new\n' });
    expect(git(root, 'status', '--porcelain')).toBe('');
    expect(leftovers(root)).toEqual([]);
  });

  it('a move into place that fails midway: every file already moved is put back', async () => {
    const { root, checkpoint } = await labProject();
    // Once: the staged c.py cannot be moved in (putting the old one back works).
    let failed = false;
    inject.rename = (src, dest) => !failed && dest === join(root, 'code/c.py') && src.includes('staged') && (failed = true);
    await expect(recordLabCheckpoint(root, checkpoint)).rejects.toThrow(/EIO/);
    expect(await workingTree(root)).toEqual({ ...FILES, 'code/new.py': null });
    expect(leftovers(root)).toEqual([]);
  });
});
