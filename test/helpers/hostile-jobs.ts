// The hostile-job corpus: jobs that try to make collect read what lies outside their directory
// (output/ itself a link to a canary folder) or fill the worker's disk (50,000 files). Run through the built CLI on any backend:
// each refusal is named in the record and no canary reaches the project's history.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Cli } from './cli.js';
import { git } from './project.js';

export interface Canary {
  /** A folder outside every job's directory, on the machine that collects. */
  dir: string;
  /** Its file's content: found nowhere in a project's history. */
  token: string;
}

/** A canary folder on this machine (where Docker's and Kubernetes' collect run). */
export function localCanary(): Canary {
  const token = `canary-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const dir = mkdtempSync(join(tmpdir(), 'reprise-canary-'));
  writeFileSync(join(dir, 'secret.txt'), `${token}\n`);
  mkdirSync(join(dir, 'deeper'));
  writeFileSync(join(dir, 'deeper/secret.txt'), `${token}\n`);
  return { dir, token };
}

interface Shown {
  runId: string;
  outputs: { path: string }[];
  skippedOutputs?: { path: string; why: string }[];
}

async function runAndShow(cli: Cli, root: string, backend: string, script: string): Promise<{ shown: Shown; text: string; stderr: string }> {
  const r = await cli.run(['run', '--on', backend, '--', 'sh', '-c', script], root);
  expect(r.code, r.stderr).toBe(0);
  const [latest] = await cli.json<{ runId: string }[]>(['log', '-n', '1'], root);
  const shown = await cli.json<Shown>(['show', latest!.runId], root);
  const text = (await cli.run(['show', latest!.runId], root)).stdout;
  return { shown, text, stderr: r.stderr };
}

/** Nothing of the canary in any commit, tree or blob of the project. */
export function expectNoCanary(root: string, canary: Canary): void {
  expect(git(root, 'log', '--all', '-p', '--binary')).not.toContain(canary.token);
  expect(git(root, 'status', '--porcelain')).toBe('');
}

/** `rm -rf output && ln -s CANARY output`: nothing collected from it, the refusal named and shown. */
export async function expectLinkedOutputRefused(cli: Cli, root: string, backend: string, canary: Canary): Promise<void> {
  const { shown, text, stderr } = await runAndShow(cli, root, backend, `rm -rf output && ln -s '${canary.dir}' output && echo linked`);
  expect(shown.outputs).toEqual([]);
  expect(shown.skippedOutputs).toEqual([{ path: 'output', why: expect.stringMatching(/^a symlink; .*nothing under it was read/) }]);
  expect(stderr).toMatch(/not collected: "output" \(a symlink/);
  expect(text).toMatch(/^refused {4}1 \(not collected\)\n {2}"output" {2}a symlink/m);
  expectNoCanary(root, canary);
}

/** 50,000 files in output/: at most the file limit is collected, the rest named by the first cut. */
export async function expectOutputFloodCut(cli: Cli, root: string, backend: string, limit: number): Promise<void> {
  const script = 'mkdir -p output/many && cd output/many && i=0; while [ $i -lt 50000 ]; do : > f$i; i=$((i+1)); done; echo made';
  const { shown } = await runAndShow(cli, root, backend, script);
  expect(shown.outputs).toHaveLength(limit);
  expect(shown.skippedOutputs).toEqual([{ path: expect.stringMatching(/^output\/many\/f\d+$/), why: `this and ${50_000 - limit - 1} more files not collected: more than ${limit} files (REPRISE_MAX_OUTPUT_FILES)` }]);
  expect(Number(git(root, 'ls-files', 'output/many').trim().split('\n').length)).toBe(limit);
}

/**
 * A tar whose member `output/a` comes three times: the file "kept", then a symlink to the canary's
 * secret, then a file "replaced"; then `output/b`, which the pod's own output/ never holds (so
 * finding it proves the forged archive is the one collect extracted).
 */
export function forgedArchive(canary: Canary): Buffer {
  const work = mkdtempSync(join(tmpdir(), 'reprise-forged-'));
  try {
    const archive = join(work, 'forged.tar');
    const tar = (...args: string[]) => execFileSync('tar', ['--owner=0', '--group=0', '--format=gnu', ...args], { cwd: work });
    mkdirSync(join(work, 'output'));
    writeFileSync(join(work, 'output/a'), 'kept\n');
    tar('-c', '-f', archive, 'output');
    unlinkSync(join(work, 'output/a'));
    symlinkSync(join(canary.dir, 'secret.txt'), join(work, 'output/a'));
    tar('-r', '-f', archive, 'output/a');
    writeFileSync(join(work, 'x'), 'replaced\n');
    writeFileSync(join(work, 'b'), 'second\n');
    tar('-r', '-f', archive, '--transform=s,^x$,output/a,;s,^b$,output/b,', 'x', 'b');
    const listed = execFileSync('tar', ['-t', '-f', archive], { encoding: 'utf8' });
    expect(listed.split('\n').filter((n) => n === 'output/a')).toHaveLength(3);
    return readFileSync(archive);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The job makes collect receive `forgedArchive` instead of its output/: it writes a `sh` into a
 * folder of the image's PATH that the job's user owns (as conda images' /opt/conda/bin is its
 * user's), which answers collect's `sh -c '… tar -c -f - …'` with the forged archive and hands
 * every other command to the real /bin/sh. (Replacing `tar` itself does nothing in a busybox
 * image: its shell runs its own tar applet whatever PATH says, which is why an earlier attempt
 * that overwrote /bin/tar collected the real output/.) The archive travels in the sources
 * (`code/forged.tar`). The first `output/a` is kept, both later ones are refused and named, no
 * link is made, nothing of the canary is read.
 */
export async function expectForgedArchiveContained(cli: Cli, root: string, backend: string, canary: Canary, pathDir: string): Promise<void> {
  writeFileSync(join(root, 'code/forged.tar'), forgedArchive(canary));
  const fakeSh = `#!/bin/sh\ncase "$*" in *"tar -c -f -"*) cat /tmp/forged.tar; exit 0;; esac\nexec /bin/sh "$@"\n`;
  const script = `printf '${fakeSh}' > ${pathDir}/sh && chmod +x ${pathDir}/sh && cp code/forged.tar /tmp/ && mkdir -p output && echo kept > output/a && echo forged`;
  const { shown, text, stderr } = await runAndShow(cli, root, backend, script);
  expect(shown.outputs.map((o) => o.path).sort()).toEqual(['output/a', 'output/b']);
  expect(git(root, 'show', 'HEAD:output/a')).toBe('kept\n');
  expect(git(root, 'show', 'HEAD:output/b')).toBe('second\n');
  const twice = { path: 'output/a', why: 'a second archive member with the same name; the first was kept' };
  expect(shown.skippedOutputs).toEqual([twice, twice]);
  expect(stderr).toMatch(/not collected: "output\/a" \(a second archive member with the same name/);
  expect(text).toMatch(/^refused {4}2 \(not collected\)\n {2}"output\/a" {2}a second archive member with the same name; the first was kept/m);
  expect(git(root, 'ls-tree', '-r', 'HEAD', 'output')).not.toMatch(/^120000/m);
  expectNoCanary(root, canary);
}
