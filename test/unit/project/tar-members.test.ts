import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listTarFile, listTarMembers } from '../../../src/project/tar-members.js';

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
