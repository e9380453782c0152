// The hostile-job corpus beyond linked output/ and the file flood, for the cluster backends: names
// with newline and control characters, a file swapped for a link while collect reads it, and a
// lab whose code/ and output/ become links. Run through the built CLI; each backend's suite says
// what it can observe on its side.
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { LabView } from '../../src/project/lab-history.js';
import type { Cli } from './cli.js';
import { expectNoCanary, type Canary } from './hostile-jobs.js';
import { JupyterClient } from './jupyter-client.js';
import { startLab, waitFor } from './lab.js';
import { git } from './project.js';

interface Shown {
  runId: string;
  state: string;
  outputs: { path: string }[];
  skippedOutputs?: { path: string; why: string }[];
}

/** Each name with the content its file gets: a newline, a tab, ESC (a terminal colour), a trailing space. */
export const HOSTILE_NAMES: [name: string, content: string][] = [
  ['a\nb.txt', 'newline'],
  ['tab\there', 'tab'],
  ['esc\x1b[31mred', 'escape'],
  ['trailing ', 'space'],
];

/** The shell that makes HOSTILE_NAMES under output/names/ (printable ASCII only on its command line). */
const NAMES_SCRIPT = [
  'mkdir -p output/names && cd output/names',
  `printf newline > "$(printf 'a\\nb.txt')"`,
  `printf tab > "$(printf 'tab\\there')"`,
  `printf escape > "$(printf 'esc\\033[31mred')"`,
  `printf space > 'trailing '`,
  'ls | wc -l',
].join(' && ');

async function latestRun(cli: Cli, root: string): Promise<Shown> {
  const [latest] = await cli.json<{ runId: string }[]>(['log', '-n', '1'], root);
  return cli.json<Shown>(['show', latest!.runId], root);
}

/** The commit that records `runId` (its Reprise-Run trailer). */
function runCommit(root: string, runId: string): string {
  const commit = git(root, 'log', '--all', '--format=%H', `--grep=^Reprise-Run: ${runId}$`).trim();
  expect(commit).toMatch(/^[0-9a-f]{40}$/);
  return commit;
}

/** Paths under `prefix` in a commit's tree, read NUL-separated (`ls-tree -z`): the exact names. */
export function treePaths(root: string, commit: string, prefix: string): string[] {
  return git(root, 'ls-tree', '-r', '-z', '--name-only', commit, '--', prefix).split('\0').filter(Boolean).sort();
}

/**
 * A job writes four files whose names hold a newline, a tab, ESC and a trailing space: each is
 * collected as one file under its exact name, in the record, in the run's commit (ls-tree -z)
 * and in the working tree, and nothing else is (no file cut at the newline, nothing refused).
 */
export async function expectHostileNamesKept(cli: Cli, root: string, backend: string): Promise<void> {
  const r = await cli.run(['run', '--on', backend, '--', 'sh', '-c', NAMES_SCRIPT], root);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).not.toMatch(/not collected/);
  const shown = await latestRun(cli, root);
  const expected = HOSTILE_NAMES.map(([n]) => `output/names/${n}`).sort();
  expect(shown.outputs.map((o) => o.path).sort()).toEqual(expected);
  expect(shown.skippedOutputs ?? []).toEqual([]);
  const commit = runCommit(root, shown.runId);
  expect(treePaths(root, commit, 'output/names')).toEqual(expected);
  // What the run's commit changed under output/: these four and nothing else.
  const changed = git(root, 'diff-tree', '-r', '-z', '--no-commit-id', '--name-only', `${commit}^`, commit).split('\0').filter(Boolean);
  expect(changed.filter((p) => p.startsWith('output/')).sort()).toEqual(expected);
  for (const [name, content] of HOSTILE_NAMES) {
    expect(git(root, 'cat-file', 'blob', `${commit}:output/names/${name}`)).toBe(content);
    expect(readFileSync(join(root, 'output/names', name), 'utf8')).toBe(content);
  }
  expect(git(root, 'status', '--porcelain')).toBe('');
}

/**
 * A job whose background process, detached from the job (setsid, its parent gone), swaps
 * output/swap/x between a regular file ("mine") and a link to the canary's secret for `seconds`,
 * then stops. Its command line holds `tag` (for the suite to find it). With `endFile`, a file the
 * backend writes once the job's command has ended, the swapper also writes output/swap/seen-end
 * ("mine") when it sees that file: collected, it proves the swapper ran on after the command
 * ended. The job's command itself ends after `jobSeconds`.
 */
export function swapScript(tag: string, canary: Canary, seconds: number, endFile?: string, jobSeconds = 3): string {
  const target = `${canary.dir}/secret.txt`;
  const seen = endFile ? `[ -e ${endFile} ] && [ ! -e seen-end ] && echo mine > seen-end; ` : '';
  // About as long a link as a file: two commands in each state (the link x.l2 only pads the time).
  const loop = `end=$(($(date +%s)+${seconds})); while [ $(date +%s) -lt $end ]; do ${seen}ln -sfn '${target}' x.l; mv -f x.l x; ln -sfn '${target}' x.l2; rm -f x.l2; echo mine > x.f; mv -f x.f x; done`;
  return [
    'mkdir -p output/swap && cd output/swap && echo mine > x',
    // `: TAG` makes the tag part of the swapper's own command line.
    `(setsid sh -c ': ${tag}; ${loop}' </dev/null >/dev/null 2>&1 &)`,
    `sleep ${jobSeconds}`,
    'echo job-done',
  ].join(' && ');
}

/**
 * Runs the swap job. Then: the run succeeded; output/swap/x is either the job's own file
 * ("mine") or refused as a link (named); every other file kept under output/swap/ is the job's
 * own, every refusal there a link; nothing in the run's tree or the index is a link; no canary
 * anywhere in the project's history.
 */
export async function expectSwapContained(cli: Cli, root: string, backend: string, canary: Canary, tag: string, seconds: number, endFile?: string): Promise<{ shown: Shown; stderr: string }> {
  const r = await cli.run(['run', '--on', backend, '--', 'sh', '-c', swapScript(tag, canary, seconds, endFile)], root);
  expect(r.code, r.stderr).toBe(0);
  const shown = await latestRun(cli, root);
  expect(shown.state).toBe('succeeded');
  const commit = runCommit(root, shown.runId);
  const kept = shown.outputs.map((o) => o.path).filter((p) => p.startsWith('output/swap/'));
  const refused = (shown.skippedOutputs ?? []).filter((o) => o.path.startsWith('output/swap/'));
  // x is exactly one of: kept as the job's own file, or refused as a link and named.
  if (kept.includes('output/swap/x')) {
    expect(refused.map((o) => o.path)).not.toContain('output/swap/x');
    expect(git(root, 'cat-file', 'blob', `${commit}:output/swap/x`)).toBe('mine\n');
    expect(readFileSync(join(root, 'output/swap/x'), 'utf8')).toBe('mine\n');
  } else {
    expect(refused).toContainEqual({ path: 'output/swap/x', why: expect.stringMatching(/^a symlink/) });
    expect(r.stderr).toMatch(/not collected: .*"output\/swap\/x" \(a symlink/);
    // What an earlier run left there stays as it was: the job's file, never a link.
    if (existsSync(join(root, 'output/swap/x'))) expect(readFileSync(join(root, 'output/swap/x'), 'utf8')).toBe('mine\n');
  }
  expect(lstatSync(join(root, 'output/swap'), { throwIfNoEntry: false })?.isSymbolicLink() ?? false).toBe(false);
  if (existsSync(join(root, 'output/swap/x'))) expect(lstatSync(join(root, 'output/swap/x')).isFile()).toBe(true);
  // The loop's temporary names may be caught too: only ever as the job's file or a refused link.
  for (const p of kept) expect(git(root, 'cat-file', 'blob', `${commit}:${p}`)).toBe('mine\n');
  for (const o of refused) expect(o.why).toMatch(/^a symlink/);
  // No link anywhere in the run's tree (mode 120000), nor in the index.
  expect(git(root, 'ls-tree', '-r', commit).split('\n').filter((l) => l.startsWith('120000'))).toEqual([]);
  expect(git(root, 'ls-files', '-s').split('\n').filter((l) => l.startsWith('120000'))).toEqual([]);
  expectNoCanary(root, canary);
  return { shown, stderr: r.stderr };
}

/**
 * A lab whose session replaces code/ and output/ by links to a canary folder (as a job could:
 * `rm -rf code && ln -s CANARY code`): the checkpoints and the stop copy nothing from them, the
 * refusals are named in the lab's record, the files saved before stay in the working tree and
 * the history (a refused folder is not taken for deleted files), and no canary is anywhere.
 */
export async function expectLabLinksRefused(cli: Cli, root: string, backend: string, canary: Canary): Promise<LabView> {
  const show = async (labId: string): Promise<LabView> => cli.json<LabView>(['show', labId], root);
  const lab = await startLab(cli, root, ['--on', backend, '--checkpoint-every', '5s']);
  const jupyter = new JupyterClient(lab.base, lab.token);
  try {
    const kernel = await jupyter.startKernel();
    const before = await jupyter.execute(kernel, "open('/project/code/before.py', 'w').write('kept = 1\\n')\nopen('/project/output/before.txt', 'w').write('kept\\n')");
    expect(before.status).toBe('ok');
    await waitFor('a checkpoint with the files saved before', () => (existsSync(join(root, 'code/before.py')) && existsSync(join(root, 'output/before.txt')) ? true : undefined));
    const link = await jupyter.execute(
      kernel,
      `import os, shutil\nos.chdir('/')\nfor d in ('code', 'output'):\n    shutil.rmtree('/project/' + d)\n    os.symlink(${JSON.stringify(canary.dir)}, '/project/' + d)\nprint(os.readlink('/project/code'))`,
    );
    expect(link.status, JSON.stringify(link.outputs)).toBe('ok');
    // A checkpoint while the session goes on refuses both, and names them.
    await waitFor('a checkpoint refusing the links', async () => ((await show(lab.labId)).skippedOutputs.some((o) => o.path === 'code') ? true : undefined), 180_000);
  } finally {
    await jupyter.close();
  }
  const stop = await cli.run(['lab', 'stop', lab.labId], root);
  expect(stop.code, stop.stderr + stop.stdout).toBe(0);
  expect((await lab.done).code, lab.output()).toBe(0);
  const view = await show(lab.labId);
  expect(view.state).toBe('stopped');
  const refused = new Map(view.skippedOutputs.map((o) => [o.path, o.why]));
  expect(refused.get('code')).toMatch(/^a symlink; .*nothing under it was read/);
  expect(refused.get('output')).toMatch(/^a symlink; .*nothing under it was read/);
  // Nothing under a refused folder was taken as deleted: the files saved before are still there.
  expect(view.files.filter((f) => f.path === 'code/before.py' || f.path === 'output/before.txt').map((f) => f.change)).not.toContain('deleted');
  for (const [path, content] of [['code/before.py', 'kept = 1\n'], ['output/before.txt', 'kept\n']] as const) {
    expect(lstatSync(join(root, path.split('/')[0]!)).isDirectory()).toBe(true);
    expect(readFileSync(join(root, path), 'utf8')).toBe(content);
    expect(git(root, 'cat-file', 'blob', `HEAD:${path}`)).toBe(content);
  }
  expect(git(root, 'ls-files', '-s').split('\n').filter((l) => l.startsWith('120000'))).toEqual([]);
  expectNoCanary(root, canary);
  // Nor in the working tree (git-ignored files included).
  const grep = spawnSync('grep', ['-rlF', '--exclude-dir=.git', '--', canary.token, root], { encoding: 'utf8' });
  expect(grep.status, grep.stdout).toBe(1);
  return view;
}
