import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractOutputs } from '../../../src/backends/extract-outputs.js';
import { CollectTally, outputLimits } from '../../../src/backends/output-limit.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reprise-extract-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A tar made by the system tar in `dir`; `more` are appended afterwards (-r), as a hostile archive would repeat a name. */
function tarOf(args: string[], ...more: string[][]): string {
  const file = join(dir, `t-${Math.random().toString(36).slice(2)}.tar`);
  execFileSync('tar', ['-c', '-f', file, ...args], { cwd: dir });
  for (const m of more) execFileSync('tar', ['-r', '-f', file, ...m], { cwd: dir });
  return file;
}

async function extract(tarFile: string, paths = ['output'], strip = true, tally = new CollectTally()) {
  const dest = join(dir, 'dest');
  await mkdir(dest, { recursive: true });
  await extractOutputs(createReadStream(tarFile), dest, { paths, strip }, tally);
  const found = execFileSync('find', ['.', '-mindepth', '1', '-print0'], { cwd: dest, encoding: 'utf8' }).split('\0').filter(Boolean).sort();
  return { dest, found, result: tally.result() };
}

describe('extractOutputs', () => {
  it('keeps plain files and directories (names with a newline too), refuses links, naming them', async () => {
    await mkdir(join(dir, 'output/sub'), { recursive: true });
    await writeFile(join(dir, 'output/a.txt'), 'a');
    await writeFile(join(dir, 'output/sub/new\nline'), 'nl');
    await symlink('/etc/passwd', join(dir, 'output/link'));
    await writeFile(join(dir, 'output/h0'), 'h');
    execFileSync('ln', [join(dir, 'output/h0'), join(dir, 'output/h1')]);
    const { dest, found, result } = await extract(tarOf(['output']));
    expect(found).toEqual(['./a.txt', './h0', './h1', './sub', './sub/new\nline']);
    expect(await readFile(join(dest, 'sub/new\nline'), 'utf8')).toBe('nl');
    expect(await readFile(join(dest, 'h1'), 'utf8')).toBe('h');
    expect(result.skipped).toEqual([{ path: 'output/link', why: expect.stringMatching(/^a symlink/) }]);
  });

  it('refuses output/ itself when it is a link, and reads nothing under it', async () => {
    await mkdir(join(dir, 'secret'));
    await writeFile(join(dir, 'secret/canary'), 'canary');
    await symlink('secret', join(dir, 'output'));
    const { found, result } = await extract(tarOf(['output'], ['--transform=s,^secret,output,', 'secret']));
    expect(found).toEqual([]);
    expect(result.skipped[0]).toEqual({ path: 'output', why: expect.stringMatching(/symlink.*nothing under it was read/) });
    expect(result.skipped.slice(1).map((s) => s.why)).toEqual(expect.arrayContaining([expect.stringMatching(/inside output\/, which was refused/)]));
  });

  it('never creates a link over a kept file when a name repeats (a file, then a link of the same name)', async () => {
    await mkdir(join(dir, 'output'));
    await writeFile(join(dir, 'output/a'), 'kept');
    const first = tarOf(['output']);
    await rm(join(dir, 'output/a'));
    await symlink('/etc/passwd', join(dir, 'output/a'));
    execFileSync('tar', ['-r', '-f', first, 'output/a'], { cwd: dir });
    await writeFile(join(dir, 'b'), 'second');
    execFileSync('tar', ['-r', '-f', first, '--transform=s,^b,output/a,', 'b'], { cwd: dir });
    const { dest, found, result } = await extract(first);
    expect(found).toEqual(['./a']);
    expect((await lstat(join(dest, 'a'))).isFile()).toBe(true);
    expect(await readFile(join(dest, 'a'), 'utf8')).toBe('kept');
    expect(result.skipped.map((s) => s.why)).toEqual([expect.stringMatching(/same name/), expect.stringMatching(/same name/)]);
  });

  it('refuses .., absolute names and folders it was not asked for', async () => {
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'top.txt'), 't');
    const dotdot = join(dir, 'dotdot.tar');
    execFileSync('sh', ['-c', `cd sub && tar -c -P -f ${dotdot} ../top.txt ${join(dir, 'top.txt')}`], { cwd: dir });
    const { found, result } = await extract(dotdot);
    expect(found).toEqual([]);
    expect(result.skipped.map((s) => s.why)).toEqual(['its path leaves output/', 'its path leaves output/']);
  });

  it('stops at the file count and total size limits, naming the first file cut and how many more', async () => {
    await mkdir(join(dir, 'output'));
    for (let i = 0; i < 30; i++) await writeFile(join(dir, `output/f${String(i).padStart(2, '0')}`), 'x'.repeat(10));
    const tarFile = tarOf(['output']);
    const byCount = await extract(tarFile, ['output'], true, new CollectTally({ ...outputLimits({}), files: 20 }));
    expect(byCount.found).toHaveLength(20);
    expect(byCount.result).toMatchObject({ incomplete: true, skipped: [{ why: 'this and 9 more files not collected: more than 20 files (REPRISE_MAX_OUTPUT_FILES)' }] });
    await rm(byCount.dest, { recursive: true });
    const bySize = await extract(tarFile, ['output'], true, new CollectTally({ ...outputLimits({}), totalBytes: 55 }));
    expect(bySize.found).toHaveLength(5);
    expect(bySize.result.skipped).toEqual([expect.objectContaining({ why: expect.stringMatching(/^this and 24 more files not collected: more than .* in all \(REPRISE_MAX_OUTPUT_TOTAL\)$/) })]);
  });

  it('keeps top folders by name when not stripping (a lab copy of code/ and output/)', async () => {
    await mkdir(join(dir, 'code'));
    await mkdir(join(dir, 'output'));
    await writeFile(join(dir, 'code/a.py'), 'a');
    await symlink('/etc', join(dir, 'output/etc'));
    const { found, result } = await extract(tarOf(['code', 'output']), ['code', 'output'], false);
    expect(found).toEqual(['./code', './code/a.py', './output']);
    expect(result.skipped).toEqual([{ path: 'output/etc', why: expect.stringMatching(/symlink/) }]);
  });
});
