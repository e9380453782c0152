import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { charliecloud } from '../../../../src/backends/slurm/container-runtime.js';
import { ARRAY_CANCEL_SCRIPT, ARRAY_CLEANUP_SCRIPT, ARRAY_SUBMIT_SCRIPT, arrayJobName, arrayScript, isArrayElement } from '../../../../src/backends/slurm/job-array.js';
import { batchScript, jobStatusFrom, sbatchRefusal, splitBatchStatus } from '../../../../src/backends/slurm/scheduler.js';
import { shellCommand } from '../../../../src/shell-quote.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'reprise-array-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const arrayDir = '/home/alice/.reprise/arrays/sweep-abc';
const runDir = (i: number) => `/home/alice/.reprise/runs/run-${i}`;

describe('arrayScript', () => {
  it('one set of #SBATCH lines, --array with its limit, output into each run via the index links, one branch per element', () => {
    const resources = { cpus: 1, memoryBytes: 2 ** 30, timeSeconds: 90 };
    const elements = [0, 1].map((i) => ({
      runDir: runDir(i),
      env: { REPRISE_RUN_ID: `run-${i}`, MSG: `it's ${i}` },
      command: charliecloud.runCommand('/img', `${runDir(i)}/project`, ['python', 'fit.py', '--seed', String(i)], 0),
    }));
    const script = arrayScript({ jobName: 'reprise-array-sweep-abc', arrayDir, maxParallel: 2, resources, partition: 'debug', extraArgs: ['--constraint=x'], elements });
    const single = (i: number) =>
      batchScript({ jobName: 'x', runDir: runDir(i), resources, env: elements[i]!.env, command: elements[i]!.command })
        .split('\n')
        .filter((l) => l && !l.startsWith('#'));
    expect(script).toBe(
      [
        '#!/bin/sh',
        '#SBATCH --job-name=reprise-array-sweep-abc',
        '#SBATCH --array=0-1%2',
        `#SBATCH --output=${arrayDir}/%a/job.log`,
        `#SBATCH --chdir=${arrayDir}`,
        '#SBATCH --time=2',
        '#SBATCH --ntasks=1',
        '#SBATCH --cpus-per-task=1',
        '#SBATCH --mem=1024M',
        '#SBATCH --partition=debug',
        '#SBATCH --constraint=x',
        'case "$SLURM_ARRAY_TASK_ID" in',
        '0)',
        `cd '${runDir(0)}' || exit 1`,
        // exactly what run 0's own batch script runs
        ...single(0),
        ';;',
        '1)',
        `cd '${runDir(1)}' || exit 1`,
        ...single(1),
        ';;',
        '*)',
        'echo "reprise: this job array has no element $SLURM_ARRAY_TASK_ID" >&2',
        'exit 1',
        ';;',
        'esac',
        '',
      ].join('\n'),
    );
    expect(single(1)).toContain(`'ch-run' '--set-env' '-b' '${runDir(1)}/project:/project' '-c' '/project' '/img' '--' 'sh' '-c' 'exec "$@"' 'reprise-run' 'python' 'fit.py' '--seed' '1'`);
    expect(single(1)).toContain("export MSG='it'\\''s 1'");
  });

  it('no limit without maxParallel; refuses an empty array, a bad limit and values that would break a directive', () => {
    const e = [{ runDir: runDir(0), env: {}, command: 'true' }];
    expect(arrayScript({ jobName: 'j', arrayDir, resources: {}, elements: e })).toContain('\n#SBATCH --array=0-0\n');
    expect(() => arrayScript({ jobName: 'j', arrayDir, resources: {}, elements: [] })).toThrow(/at least one/);
    for (const bad of [0, 1.5, -1]) expect(() => arrayScript({ jobName: 'j', arrayDir, resources: {}, maxParallel: bad, elements: e })).toThrow(/maxParallel/);
    expect(() => arrayScript({ jobName: 'j', arrayDir, resources: {}, partition: 'a b', elements: e })).toThrow(/partition/);
    expect(() => arrayScript({ jobName: 'j', arrayDir, resources: {}, elements: [{ ...e[0]!, env: { 'A-B': '1' } }] })).toThrow(/A-B/);
  });

  it('runs only the element SLURM_ARRAY_TASK_ID names, in its run directory, with its env; its exit code kept atomically there', () => {
    const runs = [0, 1, 2].map((i) => join(dir, `runs/run-${i}`));
    for (const r of runs) mkdirSync(r, { recursive: true });
    const script = arrayScript({
      jobName: 'j',
      arrayDir: dir,
      resources: {},
      // a carriage return in an argument and a value, byte for byte, without one in the script
      elements: runs.map((r, i) => ({
        runDir: r,
        env: { REPRISE_RUN_ID: `run-${i}`, CR: 'x\ry' },
        command: `${shellCommand(['sh', '-c', 'printf "%s|%s|%s|" "$REPRISE_RUN_ID" "$PWD" "$1"; printf %s "$CR"; exit "$2"', 'sh', `a\r${i}`, String(i + 2)])}`,
      })),
    });
    expect(script).not.toContain('\r');
    writeFileSync(join(dir, 'array.sh'), script);
    const run = (task: string) => spawnSync('sh', [join(dir, 'array.sh')], { cwd: dir, env: { ...process.env, SLURM_ARRAY_TASK_ID: task } });
    const r1 = run('1');
    expect(r1.status).toBe(3);
    expect(r1.stdout.toString('latin1')).toBe(`run-1|${runs[1]}|a\r1|x\ry`);
    expect(readFileSync(join(runs[1]!, 'exit_code'), 'utf8')).toBe('3\n');
    expect(existsSync(join(runs[1]!, 'exit_code.tmp'))).toBe(false);
    expect(existsSync(join(runs[0]!, 'exit_code'))).toBe(false);
    expect(existsSync(join(runs[2]!, 'exit_code'))).toBe(false);
    const none = run('7');
    expect(none.status).toBe(1);
    expect(none.stderr.toString()).toContain('this job array has no element 7');
  });
});

/** A fake SLURM on PATH: sbatch counts its calls and prints "<id>;cluster"; squeue and sacct print what the test says. */
function fakeSlurm(opts: { squeue?: string; sacct?: string; sbatchId?: string; sbatchFails?: string } = {}) {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const stub = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  stub('sbatch', opts.sbatchFails ? `echo ${shellCommand([opts.sbatchFails])} >&2; exit 1` : `echo "$*" >> ${shellCommand([join(dir, 'sbatch.calls')])}; echo '${opts.sbatchId ?? '500'};cluster'`);
  stub('squeue', `printf '%s' ${shellCommand([opts.squeue ?? ''])}`);
  stub('sacct', `printf '%s' ${shellCommand([opts.sacct ?? ''])}`);
  stub('scancel', `echo "$*" >> ${shellCommand([join(dir, 'scancel.calls')])}; [ "$1" != 9_9 ] || { echo 'scancel: error: Kill job error on job id 9_9: Invalid job id specified' >&2; exit 1; }`);
  return { ...process.env, PATH: `${bin}:${process.env.PATH}`, USER: 'alice' };
}

describe('ARRAY_SUBMIT_SCRIPT', () => {
  const arr = () => join(dir, 'arrays/sweep-abc');
  const runs = () => [0, 1, 2].map((i) => join(dir, `runs/run-${i}`));
  const stage = () => runs().forEach((r) => mkdirSync(join(r, 'project'), { recursive: true }));
  let n = 0;
  const submit = (env: NodeJS.ProcessEnv, elements = runs()) => {
    mkdirSync(arr(), { recursive: true });
    const tmp = `.incoming-${n++}`;
    writeFileSync(join(arr(), `${tmp}.sh`), '#!/bin/sh\ntrue\n');
    writeFileSync(join(arr(), `${tmp}.elements`), elements.map((e) => `${e}\n`).join(''));
    const r = spawnSync('sh', ['-c', ARRAY_SUBMIT_SCRIPT, 'sh', arr(), arrayJobName('sweep-abc'), `${tmp}.sh`, `${tmp}.elements`], { env });
    return { code: r.status, out: r.stdout.toString(), err: r.stderr.toString() };
  };
  const sbatchCalls = () => (existsSync(join(dir, 'sbatch.calls')) ? readFileSync(join(dir, 'sbatch.calls'), 'utf8').trim().split('\n') : []);

  it('submits once: links index → run dir, writes the array job id and each element\'s job id; a repeat returns the same id', () => {
    stage();
    const env = fakeSlurm();
    expect(submit(env)).toEqual({ code: 0, out: '500\n', err: '' });
    expect(sbatchCalls()).toEqual(['--parsable array.sh']);
    expect(readFileSync(join(arr(), 'array.sh'), 'utf8')).toBe('#!/bin/sh\ntrue\n');
    runs().forEach((r, i) => {
      expect(lstatSync(join(arr(), String(i))).isSymbolicLink()).toBe(true);
      expect(readlinkSync(join(arr(), String(i)))).toBe(r);
      expect(readFileSync(join(r, 'job_id'), 'utf8')).toBe(`500_${i}\n`);
    });
    expect(submit(env).out).toBe('500\n');
    expect(sbatchCalls()).toHaveLength(1);
    // The uniquely named incoming files are consumed either way.
    expect(execFileSync('ls', ['-A', arr()]).toString().split('\n').filter((f) => f.startsWith('.incoming'))).toEqual([]);
  });

  it('a repeat with other elements is refused (exit 3), nothing submitted again', () => {
    stage();
    const env = fakeSlurm();
    submit(env);
    const other = submit(env, runs().slice(0, 2));
    expect(other.code).toBe(3);
    expect(other.err).toContain('was submitted already with other elements');
    expect(sbatchCalls()).toHaveLength(1);
  });

  it('an array squeue or sacct still knows by name is adopted, not submitted again', () => {
    stage();
    expect(submit(fakeSlurm({ squeue: '321\n' })).out).toBe('321\n');
    rmSync(arr(), { recursive: true });
    expect(submit(fakeSlurm({ sacct: '654_[0-2%2]\n' })).out).toBe('654\n');
    expect(readFileSync(join(runs()[2]!, 'job_id'), 'utf8')).toBe('654_2\n');
    expect(sbatchCalls()).toEqual([]);
  });

  it('refuses elements that were not staged (exit 4) and passes sbatch refusals through', () => {
    const env = fakeSlurm();
    const r = submit(env);
    expect(r.code).toBe(4);
    expect(r.err).toContain(`${runs()[0]} was not staged`);
    stage();
    const refused = submit(fakeSlurm({ sbatchFails: 'sbatch: error: Batch job submission failed: Invalid job array specification' }));
    expect(refused.code).toBe(1);
    expect(sbatchRefusal(refused.err)).toBe('Batch job submission failed: Invalid job array specification');
    expect(existsSync(join(arr(), 'array_job_id'))).toBe(false);
  });

  it('ARRAY_CLEANUP_SCRIPT removes the array directory with the last element\'s run directory only', () => {
    stage();
    submit(fakeSlurm());
    const cleanup = () => execFileSync('sh', ['-c', ARRAY_CLEANUP_SCRIPT, 'sh', arr()]);
    for (const r of runs()) {
      expect(existsSync(arr())).toBe(true);
      rmSync(r, { recursive: true });
      cleanup();
    }
    expect(existsSync(arr())).toBe(false);
    cleanup(); // harmless again
  });

  it('ARRAY_CANCEL_SCRIPT cancels the one element and marks its run directory; an element already gone is left unmarked', () => {
    const env = fakeSlurm();
    const run = join(dir, 'runs/run-0');
    mkdirSync(run, { recursive: true });
    expect(spawnSync('sh', ['-c', ARRAY_CANCEL_SCRIPT, 'sh', '500_0', run], { env }).status).toBe(0);
    expect(readFileSync(join(dir, 'scancel.calls'), 'utf8')).toBe('500_0\n');
    expect(existsSync(join(run, 'cancelled'))).toBe(true);
    rmSync(join(run, 'cancelled'));
    const gone = spawnSync('sh', ['-c', ARRAY_CANCEL_SCRIPT, 'sh', '9_9', run], { env });
    expect(gone.status).toBe(1);
    expect(gone.stderr.toString()).toContain('Invalid job id');
    expect(existsSync(join(run, 'cancelled'))).toBe(false);
  });
});

describe('array elements in squeue / scontrol / sacct (as SLURM 22.05 prints them)', () => {
  const status = (out: string) => jobStatusFrom(splitBatchStatus(out, ['384_2']).get('384_2')!, '384_2', null);

  it('element ids', () => {
    expect(['384_2', '1_0'].map(isArrayElement)).toEqual([true, true]);
    expect(['384', '384_[0-3%2]', '_1', '384_'].map(isArrayElement)).toEqual([false, false, false, false]);
  });

  it('an element still pending in its array (squeue -j 384_2 answers for it) waits on the array limit, which clears', () => {
    const scontrol = 'JobId=384 ArrayJobId=384 ArrayTaskId=2 ArrayTaskThrottle=2 JobName=reprise-array-s JobState=PENDING Reason=JobArrayTaskLimit ExitCode=0:0 StartTime=Unknown EndTime=Unknown';
    // squeue answers for the element; scontrol (which says the same) is asked only when it does not.
    expect(status(`@tz\n+0000\n@squeue\n384_2 PENDING JobArrayTaskLimit\n@exit_code 384_2\n`)).toEqual({ phase: 'pending', reason: 'JobArrayTaskLimit (squeue)' });
    expect(status(`@tz\n+0000\n@squeue\n\n@sacct\n\n@scontrol 384_2\n${scontrol}\n@exit_code 384_2\n`)).toEqual({ phase: 'pending' });
  });

  it('an ended element reads from its own scontrol line, or its own sacct row', () => {
    const scontrol = 'JobId=387 ArrayJobId=384 ArrayTaskId=2 JobName=reprise-array-s JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0 StartTime=2026-12-01T03:39:36 EndTime=2026-12-01T03:39:41';
    expect(status(`@tz\n+0000\n@squeue\n\n@sacct\n\n@scontrol 384_2\n${scontrol}\n@exit_code 384_2\n3\n`)).toMatchObject({ phase: 'exited', exitCode: 3, finishedAt: '2026-12-01T03:39:41.000Z' });
    const sacct = '384_0|COMPLETED|0:0|2026-12-01T03:39:30|2026-12-01T03:39:35\n384_2|FAILED|3:0|2026-12-01T03:39:36|2026-12-01T03:39:41';
    expect(status(`@tz\n+0000\n@squeue\n@sacct\n${sacct}\n@exit_code 384_2\n`)).toMatchObject({ phase: 'exited', exitCode: 3, startedAt: '2026-12-01T03:39:36.000Z' });
  });
});
