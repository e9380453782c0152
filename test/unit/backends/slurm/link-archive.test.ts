// The hard-link archive the SLURM backend links tracked inputs with, extracted by the local GNU
// tar as the login node's does (-P): every entry a second name of its absolute target, names of
// any length (GNU long-name entries) in the C locale; paths tar would take outside are refused.
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, readdir, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hardLinkArchive } from '../../../../src/backends/slurm/link-archive.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reprise-link-archive-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('hardLinkArchive', () => {
  it('GNU tar -P makes each entry a hard link to its absolute target, long and non-ASCII names included', async () => {
    const cache = join(dir, 'cache', 'x'.repeat(120));
    await mkdir(cache, { recursive: true });
    const target = join(cache, 'object');
    await writeFile(target, 'bytes');
    await chmod(target, 0o444);
    const paths = ['input/a.bin', 'input/sub/with space.txt', `input/${'é folder '.repeat(12)}/${'ü name '.repeat(14)}.bin`];
    const tar = join(dir, 'links.tar');
    await writeFile(tar, hardLinkArchive(paths.map((path) => ({ path, target }))));
    const project = join(dir, 'project');
    await mkdir(project);
    execFileSync('tar', ['-x', '-P', '--no-same-owner', '-f', tar, '-C', project], { env: { ...process.env, LC_ALL: 'C' } });
    const object = await stat(target);
    for (const p of paths) {
      const linked = await stat(join(project, p));
      expect(linked.ino, p).toBe(object.ino);
      expect(linked.mode & 0o777, p).toBe(0o444);
    }
    expect(object.nlink).toBe(1 + paths.length);
    expect(await readdir(join(project, 'input'))).toHaveLength(3);
  });

  it('refuses a path with an empty, "." or ".." part and a relative target', () => {
    for (const path of ['/etc/passwd', 'input/../../x', 'input//x', './x', 'input/x\n']) {
      expect(() => hardLinkArchive([{ path, target: '/cache/o' }]), path).toThrow(/not a plain relative path/);
    }
    expect(() => hardLinkArchive([{ path: 'input/x', target: 'cache/o' }])).toThrow(/not an absolute link target/);
  });
});
