import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractMembers, listTarFile, listTarMembers, partitionOutputMembers } from '../../../src/project/tar-members.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reprise-tar-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A tar made by the system tar, so the parser is tested on real archives (GNU and pax). */
function tarOf(args: string[], format = 'gnu'): Buffer {
  const file = join(dir, `t-${Math.random().toString(36).slice(2)}.tar`);
  execFileSync('tar', ['-c', '-f', file, `--format=${format}`, ...args], { cwd: dir, stdio: ['ignore', 'ignore', 'ignore'] });
  return execFileSync('cat', [file]);
}

describe('listTarMembers', () => {
  it('lists files, directories and links, with long names in GNU and pax archives', async () => {
    const long = `output/${'d'.repeat(120)}/${'f'.repeat(130)}.txt`;
    await mkdir(join(dir, 'output', 'd'.repeat(120)), { recursive: true });
    await writeFile(join(dir, long), 'x');
    await symlink('../etc/passwd', join(dir, 'output', 'link'));
    for (const format of ['gnu', 'pax']) {
      const members = listTarMembers(tarOf(['output'], format));
      expect(members).toContainEqual(expect.objectContaining({ name: long, type: 'file' }));
      expect(members).toContainEqual({ name: 'output/', type: 'directory' });
      expect(members).toContainEqual({ name: 'output/link', type: 'symlink', linkName: '../etc/passwd' });
    }
  });

  it('joins the ustar prefix field to the name (paths over 100 characters)', async () => {
    const long = `output/${'d'.repeat(90)}/${'e'.repeat(20)}.txt`; // 122 characters: prefix "output/ddd…", name "eee….txt"
    await mkdir(join(dir, 'output', 'd'.repeat(90)), { recursive: true });
    await writeFile(join(dir, long), 'x');
    expect(listTarMembers(tarOf(['output'], 'ustar'))).toContainEqual(expect.objectContaining({ name: long, type: 'file' }));
  });

  it('reads the same members from a file as from a buffer', async () => {
    await mkdir(join(dir, 'output'));
    await writeFile(join(dir, 'output', 'a.txt'), 'a'.repeat(2000));
    const buf = tarOf(['output']);
    await writeFile(join(dir, 'x.tar'), buf);
    expect(listTarFile(join(dir, 'x.tar'))).toEqual(listTarMembers(buf));
    expect(listTarMembers(buf).map((m) => m.name)).toEqual(['output/', 'output/a.txt']);
  });

  it('refuses a truncated archive', async () => {
    await writeFile(join(dir, 'big'), 'b'.repeat(5000));
    expect(() => listTarMembers(tarOf(['big']).subarray(0, 2048))).toThrow(/truncated/);
  });
});

describe('partitionOutputMembers', () => {
  it('keeps plain files and directories under output/', () => {
    const members = [{ name: 'output/', type: 'directory' as const }, { name: 'output/a/b.txt', type: 'file' as const }, { name: 'output/new\nline', type: 'file' as const }];
    expect(partitionOutputMembers(members, 'output')).toEqual({ safe: members, skipped: [] });
  });

  it.each([
    [{ name: '/etc/passwd', type: 'file' as const }, /leaves output/],
    [{ name: 'output/../../x', type: 'file' as const }, /leaves output/],
    [{ name: '../x', type: 'file' as const }, /leaves output/],
    [{ name: 'output/l', type: 'symlink' as const, linkName: '/etc' }, /symlink/],
    [{ name: 'output/h', type: 'hardlink' as const, linkName: 'output/a' }, /hardlink/], // its target was not kept
    [{ name: 'output/h', type: 'hardlink' as const, linkName: '/etc/passwd' }, /hardlink/],
    [{ name: 'output/dev', type: 'other' as const }, /other/],
    [{ name: 'elsewhere/a', type: 'file' as const }, /leaves output/],
  ])('leaves out %o, naming it', (member, why) => {
    const { safe, skipped } = partitionOutputMembers([member], 'output');
    expect(safe).toEqual([]);
    expect(skipped).toEqual([{ path: member.name, why: expect.stringMatching(why) }]);
  });

  it('keeps a hard link to a file it kept', () => {
    const members = [{ name: 'output/a', type: 'file' as const }, { name: 'output/h', type: 'hardlink' as const, linkName: 'output/a' }];
    expect(partitionOutputMembers(members, 'output')).toEqual({ safe: members, skipped: [] });
  });

  it('catches .. and absolute names in archives made by a real tar', async () => {
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'top.txt'), 't');
    const dotdot = execFileSync('sh', ['-c', 'cd sub && tar -c -P -f - ../top.txt'], { cwd: dir });
    expect(partitionOutputMembers(listTarMembers(dotdot), 'output').skipped).toEqual([{ path: '../top.txt', why: 'its path leaves output/' }]);
    const absolute = execFileSync('tar', ['-c', '-P', '-f', '-', join(dir, 'top.txt')]);
    expect(partitionOutputMembers(listTarMembers(absolute), 'output').safe).toEqual([]);
  });

  it('extracts only the kept members: a symlink in the archive is not created', async () => {
    const src = join(dir, 'src');
    await mkdir(join(src, 'output'), { recursive: true });
    await writeFile(join(src, 'output/a.txt'), 'a');
    execFileSync('ln', ['-s', '/etc/passwd', join(src, 'output/link')]);
    const tarFile = join(dir, 'out.tar');
    execFileSync('tar', ['-c', '-f', tarFile, '-C', src, 'output']);
    const { safe, skipped } = partitionOutputMembers(listTarFile(tarFile), 'output');
    const dest = join(dir, 'dest');
    await mkdir(dest);
    await extractMembers(tarFile, dest, safe, 1);
    expect(execFileSync('find', ['.', '-mindepth', '1'], { cwd: dest, encoding: 'utf8' }).trim().split('\n').sort()).toEqual(['./a.txt']);
    expect(skipped.map((o) => o.path)).toEqual(['output/link']);
  });
});
