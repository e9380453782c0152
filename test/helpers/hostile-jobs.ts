// The hostile-job corpus: jobs that try to make collect read what lies outside their directory
// (output/ itself a link to a canary folder) or fill the worker's disk (50,000 files). Run through the built CLI on any backend:
// each refusal is named in the record and no canary reaches the project's history.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
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
