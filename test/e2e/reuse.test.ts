// Reuse of identical runs on local Docker, through the built CLI: `run --reuse` records a succeeded
// run with the same key instead of executing (no container created, seen in Docker's own event
// log), and each part of the key (source, image, command, tracked input data, listed resources,
// the backend when the project asks) makes a new key. Sweeps run only their new points; verify
// and rerun of a reused run execute the original; bad settings are refused.
import { execFileSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { agentConnection } from '../helpers/cli.js';
import { useCliProject } from '../helpers/cli-project.js';
import { repoState } from '../helpers/project.js';
import { readSummary, sweepIdOf } from '../helpers/sweep.js';

const p = useCliProject('reuse', () => ['other', '--kind', 'docker']);

interface Result {
  runId: string;
  state: string;
  exitCode: number;
  commit: string;
  reusedFrom?: string;
}
interface KeyView {
  key: string;
  recordedKey?: string;
  parts: { part: string; digest: string; value: unknown }[];
}

const git = (...args: string[]) => execFileSync('git', args, { cwd: p.root, encoding: 'utf8' });

/** A run with its result, the wall time of the command, and the containers Docker created for it meanwhile. */
async function run(args: string[], command: string[]): Promise<{ result: Result; seconds: number; created: string[]; stderr: string; code: number }> {
  const since = Math.floor(Date.now() / 1000) - 1;
  const t0 = performance.now();
  const r = await p.cli.run(['run', ...args, '--json', '--', ...command], p.root);
  const seconds = (performance.now() - t0) / 1000;
  expect(r.code, r.stderr).toBe(0);
  const result = JSON.parse(r.stdout) as Result;
  const until = Math.ceil(Date.now() / 1000) + 1;
  const created = execFileSync(
    'docker',
    ['events', '--since', String(since), '--until', String(until), '--filter', 'type=container', '--filter', 'event=create', '--filter', `label=org.reprise.run=${result.runId}`, '--format', '{{.Actor.ID}}'],
    { encoding: 'utf8' },
  )
    .split('\n')
    .filter(Boolean);
  return { result, seconds, created, stderr: r.stderr, code: r.code };
}

/** How long the run's workflow took on the agent, start to close (the reuse step, without the CLI's own start). */
async function workflowSeconds(runId: string): Promise<number> {
  const connection = await agentConnection(p.cli.env);
  try {
    const d = await new Client({ connection }).workflow.getHandle(runId).describe();
    return (d.closeTime!.getTime() - d.startTime.getTime()) / 1000;
  } finally {
    await connection.close();
  }
}

const keyOf = (runId: string) => p.cli.json<KeyView>(['show', runId, '--key'], p.root);
const differing = (a: KeyView, b: KeyView) => a.parts.filter((x) => b.parts.find((y) => y.part === x.part)?.digest !== x.digest).map((x) => x.part);

const CMD = ['sh', '-c', 'cat code/a.txt > output/out.txt; head -c 3000 /dev/urandom > output/noise.bin'];

describe('reprise run --reuse on local Docker', () => {
  let original: Result;

  it('records the identical run instead of executing: state reused, same output bytes, no container', async () => {
    writeFileSync(join(p.root, 'code', 'a.txt'), 'one\n');
    const first = await run([], CMD);
    original = first.result;
    expect(original.state).toBe('succeeded');
    expect(first.created, 'the first run executed in a container').toHaveLength(1);
    const bytes = readFileSync(join(p.root, 'output', 'noise.bin'));
    const trailers = git('log', '-1', '--format=%(trailers:only,unfold)', original.commit);
    expect(trailers).toMatch(/^Reprise-Key: sha256:[0-9a-f]{64}$/m);

    writeFileSync(join(p.root, 'output', 'noise.bin'), 'clobbered');
    const again = await run(['--reuse'], CMD);
    expect(again.result.state).toBe('reused');
    expect(again.result.reusedFrom).toBe(original.runId);
    expect(again.result.exitCode).toBe(0);
    expect(again.created, 'no container for a reused run').toEqual([]);
    // Random bytes: only reuse can give the same ones back.
    expect(readFileSync(join(p.root, 'output', 'noise.bin')).equals(bytes)).toBe(true);
    expect(git('show', `${again.result.commit}:output/noise.bin`, '--textconv').length).toBeGreaterThan(0);
    expect(git('rev-parse', `${again.result.commit}:output/noise.bin`)).toBe(git('rev-parse', `${original.commit}:output/noise.bin`));
    const t = git('log', '-1', '--format=%(trailers:only,unfold)', again.result.commit);
    expect(t).toContain('Reprise-State: reused');
    expect(t).toContain(`Reprise-Reused-From: ${original.runId}`);
    expect(t).toContain(trailers.match(/^Reprise-Key: .*$/m)![0]);
    const step = await workflowSeconds(again.result.runId);
    console.log(`reuse: the reused run's workflow took ${step.toFixed(3)} s; the command ${again.seconds.toFixed(3)} s (the first run's ${first.seconds.toFixed(3)} s), load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`);
    expect(again.seconds).toBeLessThan(first.seconds);

    // The one line it prints, and how the feed, runs and show read it.
    const human = await p.cli.run(['run', '--reuse', '--', ...CMD], p.root);
    expect(human.code).toBe(0);
    expect(human.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^run run-[a-z2-7]{12} reused ${original.runId} `))]);
    const log = await p.cli.json<{ runId: string; state: string; reusedFrom?: string }[]>(['log'], p.root);
    expect(log[0]).toMatchObject({ state: 'reused', reusedFrom: original.runId });
    const runs = await p.cli.json<{ runId: string; state: string }[]>(['runs'], p.root);
    expect(runs.find((r) => r.runId === again.result.runId)?.state).toBe('reused');
    const show = await p.cli.run(['show', again.result.runId], p.root);
    expect(show.stdout).toContain(`reused ${original.runId}: not executed`);
    // Without --reuse nothing changes: it executes.
    const plain = await run([], CMD);
    expect(plain.result.state).toBe('succeeded');
    expect(plain.created).toHaveLength(1);
    // How fast is the bench's to say (bench/where-time-goes.ts, on a quiet machine); here the
    // workflow only has to be far below any job's cost: 1.3 s was seen at load 8.4 on 2 CPUs.
    expect(step).toBeLessThan(10);
  });

  it('show --key lists the parts; a changed command, source file or image each gives a new key and an executed run', async () => {
    const base = await keyOf(original.runId);
    expect(base.recordedKey).toBe(base.key);
    expect(base.parts.map((x) => x.part)).toEqual(['source', 'image', 'command', 'workdir', 'resources', 'data']);
    const human = await p.cli.run(['show', original.runId, '--key'], p.root);
    expect(human.stdout).toContain(base.key);
    expect(human.stdout).toMatch(/command\s+sha256:[0-9a-f]{64}\s+\["sh","-c"/);

    const cmd = await run(['--reuse'], [...CMD.slice(0, 2), `${CMD[2]}; true`]);
    expect(cmd.result.state).toBe('succeeded');
    expect(cmd.created).toHaveLength(1);
    expect(differing(base, await keyOf(cmd.result.runId))).toEqual(['command']);

    appendFileSync(join(p.root, 'code', 'a.txt'), 'two\n');
    const src = await run(['--reuse'], CMD);
    expect(src.result.state).toBe('succeeded');
    expect(src.created).toHaveLength(1);
    expect(readFileSync(join(p.root, 'output', 'out.txt'), 'utf8')).toBe('one\ntwo\n');
    const srcKey = await keyOf(src.result.runId);
    expect(differing(base, srcKey)).toEqual(['source']);
    // Now the new source has a run: reused.
    expect((await run(['--reuse'], CMD)).result.reusedFrom).toBe(src.result.runId);

    const envFile = join(p.root, '.reprise', 'environment.yaml');
    writeFileSync(envFile, readFileSync(envFile, 'utf8').replace(/dockerfile: \[\]\n?/, '') + 'dockerfile:\n  - ENV REUSE_TEST=1\n');
    const img = await run(['--reuse'], CMD);
    expect(img.result.state).toBe('succeeded');
    expect(img.created).toHaveLength(1);
    expect(differing(srcKey, await keyOf(img.result.runId))).toEqual(expect.arrayContaining(['image', 'source']));
  });

  it('a changed tracked input file gives a new run; unchanged, it is reused', async () => {
    writeFileSync(join(p.root, 'input', 'd.csv'), 'x,1\n');
    expect((await p.cli.run(['data', 'add', 'input/d.csv'], p.root)).code).toBe(0);
    const DATA = ['sh', '-c', 'cat input/d.csv > output/d.txt'];
    const first = await run(['--reuse'], DATA);
    expect(first.result.state).toBe('succeeded');
    expect((await run(['--reuse'], DATA)).result.state).toBe('reused');
    writeFileSync(join(p.root, 'input', 'd.csv'), 'x,2\n');
    const changed = await run(['--reuse'], DATA);
    expect(changed.result.state).toBe('succeeded');
    expect(changed.created).toHaveLength(1);
    expect(readFileSync(join(p.root, 'output', 'd.txt'), 'utf8')).toBe('x,2\n');
    expect(differing(await keyOf(first.result.runId), await keyOf(changed.result.runId))).toEqual(expect.arrayContaining(['data']));
  });

  it('reuse: true in project.yaml is the default, --no-reuse and reuse.never opt out, the backend counts only with perBackend', async () => {
    const projectFile = join(p.root, '.reprise', 'project.yaml');
    const spec = readFileSync(projectFile, 'utf8');
    writeFileSync(projectFile, `${spec}reuse:\n  enabled: true\n  never: ['sh -c *date*']\n`);
    const first = await run([], CMD);
    expect(first.result.state).toBe('succeeded');
    expect((await run([], CMD)).result.state).toBe('reused');
    expect((await run(['--no-reuse'], CMD)).result.state).toBe('succeeded');
    // Another backend: same key (outputs are the same everywhere), so reused (the newest run with that key).
    const elsewhere = await run(['--on', 'other'], CMD);
    expect(elsewhere.result.state).toBe('reused');
    expect(elsewhere.created).toEqual([]);
    const NEVER = ['sh', '-c', 'date > output/date.txt'];
    expect((await run([], NEVER)).result.state).toBe('succeeded');
    expect((await run([], NEVER)).result.state).toBe('succeeded');

    writeFileSync(projectFile, `${spec}reuse:\n  enabled: true\n  perBackend: true\n`);
    const onDocker = await run([], CMD);
    expect(onDocker.result.state).toBe('succeeded');
    expect((await run([], CMD)).result.state).toBe('reused');
    const onOther = await run(['--on', 'other'], CMD);
    expect(onOther.result.state).toBe('succeeded');
    expect(onOther.created).toHaveLength(1);
    expect(differing(await keyOf(onDocker.result.runId), await keyOf(onOther.result.runId))).toEqual(['backend']);
    writeFileSync(projectFile, spec);
  });

  it('verify and rerun of a reused run execute the original', async () => {
    await run([], CMD);
    const reused = await run(['--reuse'], CMD);
    expect(reused.result.state).toBe('reused');
    const verify = await p.cli.run(['verify', reused.result.runId, '--json'], p.root);
    expect(verify.code, verify.stderr).toBe(1); // noise.bin is random: executing again gives other bytes
    const v = JSON.parse(verify.stdout) as { original: string; rerun: string; files: { path: string; verdict: string }[] };
    expect(v.original).toBe(reused.result.reusedFrom);
    expect(v.files.find((f) => f.path === 'output/out.txt')?.verdict).toBe('same');
    expect(v.files.find((f) => f.path === 'output/noise.bin')?.verdict).not.toBe('same');
    const rerun = await p.cli.json<Result>(['rerun', reused.result.runId], p.root);
    expect(rerun.state).toBe('succeeded');
    const record = JSON.parse(git('show', `${rerun.commit}:.reprise/activity/${rerun.runId}.json`)) as { rerunOf: string };
    expect(record.rerunOf).toBe(reused.result.reusedFrom);
  });

  it('a deterministic reused run verifies identical', async () => {
    const STEADY = ['sh', '-c', 'echo steady > output/steady.txt'];
    await run([], STEADY);
    const reused = await run(['--reuse'], STEADY);
    expect(reused.result.state).toBe('reused');
    const v = await p.cli.json<{ identical: boolean }>(['verify', reused.result.runId], p.root);
    expect(v.identical).toBe(true);
  });

  it('sweep --reuse runs only the new points when a parameter gains a value', async () => {
    const sweep = (values: string) => p.cli.run(['sweep', '--reuse', '--param', `n=${values}`, '--', 'sh', '-c', 'echo {n} > output/n{n}.txt'], p.root);
    const first = await sweep('1,2');
    expect(first.code, first.stderr).toBe(0);
    const second = await sweep('1,2,3');
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('(2 reused, 1 succeeded)');
    const summary = readSummary(p.root, sweepIdOf(second));
    expect(summary.state).toBe('succeeded');
    expect(Object.fromEntries(summary.points.map((pt) => [pt.params.n, pt.state]))).toEqual({ '1': 'reused', '2': 'reused', '3': 'succeeded' });
    expect(readFileSync(join(p.root, 'output', 'n3.txt'), 'utf8')).toBe('3\n');
  });

  it('bad reuse settings: exit 2, one line, nothing written', async () => {
    const projectFile = join(p.root, '.reprise', 'project.yaml');
    const spec = readFileSync(projectFile, 'utf8');
    for (const bad of ['reuse: 3\n', 'reuse:\n  never: [""]\n', 'reuse:\n  resources: [disk]\n', 'reuse:\n  perBackend: yes please\n', 'reuse:\n  sometimes: true\n']) {
      writeFileSync(projectFile, spec + bad);
      const before = repoState(p.root);
      const r = await p.cli.run(['run', '--reuse', '--', 'true'], p.root);
      expect(r.code, bad).toBe(2);
      expect(r.stderr.trim().split('\n'), bad).toHaveLength(1);
      expect(r.stderr).toContain('.reprise/project.yaml');
      expect(repoState(p.root)).toEqual(before);
    }
    writeFileSync(projectFile, spec);
  });
});
