/**
 * The record step alone (`recordRunOn`, what the record activity calls to commit a run), in
 * process, on a 10,000-run project and on a 100-run project, interleaved round by round: a
 * record's cost should not grow with the history (target ≤ 1.1×). Then one record of each with
 * `git` on PATH as a wrapper that counts the spawns (that pass is not timed).
 *
 *   node --import tsx bench/record.ts [--rounds 20] [--keep]
 *
 * The 10,000-run project is generated once per machine (bench/history-gen.ts) into
 * ~/.cache/reprise-bench/record-v1-10000 (or $REPRISE_BENCH_CACHE) and cloned per bench.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { newRunId } from '../src/client/ids.js';
import { recordRunOn } from '../src/project/history.js';
import type { RunRecord } from '../src/project/run-record.js';
import { generateHistory } from './history-gen.js';
import { fmt, load1, log, mustExec, stats } from './lib.js';

const BIG = 10_000;
const SMALL = 100;
const FORMAT = 1;
const PROJECT = { name: 'history', id: 'bench-record' };
const env = { ...process.env, GIT_AUTHOR_NAME: 'Bench', GIT_AUTHOR_EMAIL: 'bench@example.com', GIT_COMMITTER_NAME: 'Bench', GIT_COMMITTER_EMAIL: 'bench@example.com' };
const git = (root: string, args: string[]) => mustExec(`git ${args[0]}`, 'git', args, { cwd: root, env });

/** A project with one commit of user files, then `count` generated runs. */
async function makeProject(root: string, count: number): Promise<void> {
  await mkdir(join(root, 'code'), { recursive: true });
  await mkdir(join(root, '.reprise'), { recursive: true });
  await writeFile(join(root, 'code', 'fit.py'), 'print("fit")\n');
  await writeFile(join(root, '.reprise', 'project.yaml'), `name: ${PROJECT.name}\nid: ${PROJECT.id}\n`);
  await git(root, ['init', '-q', '-b', 'main']);
  await git(root, ['add', '-A']);
  await git(root, ['commit', '-q', '-m', 'init']);
  const g = await generateHistory(root, PROJECT, count);
  log(`generated ${count} runs in ${fmt(g.seconds)}`);
}

async function bigTemplate(): Promise<string> {
  const cache = process.env.REPRISE_BENCH_CACHE ?? join(homedir(), '.cache', 'reprise-bench');
  const template = join(cache, `record-v${FORMAT}-${BIG}`);
  if (existsSync(join(template, '.git'))) return template;
  await mkdir(cache, { recursive: true });
  const tmp = await mkdtemp(join(cache, '.gen-'));
  try {
    log(`generating ${BIG} record commits into ${template} (once per machine)…`);
    await makeProject(join(tmp, 'p'), BIG);
    await rename(join(tmp, 'p'), template);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return template;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** One finished run's files in `dir` and its record, as the record activity hands them to recordRunOn. */
async function finishedRun(root: string, dir: string) {
  const runId = newRunId();
  const outputsDir = join(dir, runId, 'outputs');
  await mkdir(outputsDir, { recursive: true });
  const output = `result of ${runId}\n`;
  await writeFile(join(outputsDir, 'result.txt'), output);
  const logFile = join(dir, runId, 'job.log');
  await writeFile(logFile, 'converged\n');
  const head = (await git(root, ['rev-parse', 'HEAD'])).stdout.trim();
  const now = new Date().toISOString();
  const record: RunRecord = {
    version: 1,
    runId,
    project: PROJECT,
    command: ['python3', 'code/fit.py'],
    state: 'succeeded',
    exitCode: 0,
    backend: { name: 'local', kind: 'docker', jobId: sha256(runId) },
    sourceCommit: head,
    image: { digest: `sha256:${sha256('image')}` },
    environment: sha256('environment'),
    environmentLock: { path: '.reprise/environment.lock', sha256: sha256('lock\n') },
    resources: {},
    startedAt: now,
    finishedAt: now,
    outputs: [{ path: 'output/result.txt', sha256: sha256(output), size: Buffer.byteLength(output) }],
    log: { path: `.reprise/activity/${runId}.log`, sha256: sha256('converged\n'), size: 10 },
  };
  return { record, outputsDir, logFile, branch: 'refs/heads/main', files: [{ path: '.reprise/environment.lock', content: 'lock\n' }] };
}

async function timedRecord(root: string, dir: string): Promise<number> {
  const input = await finishedRun(root, dir);
  const started = process.hrtime.bigint();
  await recordRunOn(root, input);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function main() {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' }, keep: { type: 'boolean', default: false } } });
  const rounds = Number(values.rounds);
  const work = await mkdtemp(join(tmpdir(), 'reprise-bench-record-'));
  try {
    const template = await bigTemplate();
    const big = join(work, 'big');
    const small = join(work, 'small');
    await git(work, ['clone', '-q', '--local', template, big]);
    await git(big, ['remote', 'remove', 'origin']);
    await makeProject(small, SMALL);
    process.env.GIT_AUTHOR_NAME = env.GIT_AUTHOR_NAME; // the identity the records carry, as in a configured project
    process.env.GIT_AUTHOR_EMAIL = env.GIT_AUTHOR_EMAIL;
    process.env.GIT_COMMITTER_NAME = env.GIT_COMMITTER_NAME;
    process.env.GIT_COMMITTER_EMAIL = env.GIT_COMMITTER_EMAIL;
    const runs = join(work, 'runs');
    // A warm-up of each (the first record of a process pays the module and git-dir look-ups).
    await timedRecord(big, runs);
    await timedRecord(small, runs);
    const loadBefore = load1();
    const t: Record<'big' | 'small', number[]> = { big: [], small: [] };
    for (let i = 0; i < rounds; i++) {
      for (const side of i % 2 ? (['small', 'big'] as const) : (['big', 'small'] as const)) t[side].push(await timedRecord(side === 'big' ? big : small, runs));
    }
    const loadAfter = load1();

    // The spawns of one record: git on PATH counts its calls into a file.
    const bin = join(work, 'bin');
    await mkdir(bin, { recursive: true });
    const calls = join(work, 'git-calls');
    const realGit = (await mustExec('which git', 'which', ['git'], { env })).stdout.trim();
    await writeFile(join(bin, 'git'), `#!/bin/sh\necho "$1" >> "${calls}"\nexec "${realGit}" "$@"\n`);
    await chmod(join(bin, 'git'), 0o755);
    const path = process.env.PATH;
    const spawns: Record<string, string[]> = {};
    for (const [side, root] of [['big', big], ['small', small]] as const) {
      const input = await finishedRun(root, runs);
      await writeFile(calls, '');
      process.env.PATH = `${bin}:${path}`;
      await recordRunOn(root, input);
      process.env.PATH = path;
      spawns[side] = (await readFile(calls, 'utf8')).split('\n').filter(Boolean);
    }

    const b = stats(t.big);
    const s = stats(t.small);
    console.log(`record (recordRunOn), ${rounds} rounds interleaved, load ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)}`);
    console.log(`| project | median (p90; min–max) | git spawns per record |`);
    console.log(`|---|---|---|`);
    for (const [label, st, side] of [[`${BIG.toLocaleString('en')} runs`, b, 'big'], [`${SMALL} runs`, s, 'small']] as const)
      console.log(`| ${label} | ${fmt(st.median)} (${st.p90.toFixed(3)}; ${st.min.toFixed(3)}–${st.max.toFixed(3)}) | ${spawns[side]!.length} (${spawns[side]!.join(', ')}) |`);
    const ratio = b.median / s.median;
    console.log(`ratio ${ratio.toFixed(2)}× (target ≤ 1.1×): ${ratio <= 1.1 ? 'PASS' : 'MISS'}`);
  } finally {
    if (values.keep) log(`kept ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
}

await main();
