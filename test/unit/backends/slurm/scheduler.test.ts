import { describe, expect, it } from 'vitest';
import { charliecloud, apptainer } from '../../../../src/backends/slurm/container-runtime.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shellCommand } from '../../../../src/shell-quote.js';
import { batchScript, jobStatusFrom, parseScontrol, sbatchRefusal, splitBatchStatus, type StatusSections } from '../../../../src/backends/slurm/scheduler.js';

const runDir = '/home/alice/.reprise/runs/r1';

describe('batchScript', () => {
  it('writes resources as #SBATCH lines, runs the command and keeps its exit code', () => {
    const script = batchScript({
      jobName: 'reprise-r1',
      runDir,
      resources: { cpus: 1.5, memoryBytes: 1.5 * 2 ** 30, gpus: 2, timeSeconds: 90 },
      partition: 'debug',
      account: 'proj1',
      qos: 'short',
      extraArgs: ['--constraint=haswell'],
      env: { REPRISE_RUN_ID: 'r1', MSG: "it's $x" },
      // The GPU image step charliecloud adds for gpus > 0: container-runtime.test.ts.
      command: charliecloud.runCommand('/home/alice/.reprise/images/abc', `${runDir}/project`, ['sh', '-c', 'echo "$MSG" > output/a'], 0),
    });
    expect(script).toBe(
      [
        '#!/bin/sh',
        '#SBATCH --job-name=reprise-r1',
        `#SBATCH --output=${runDir}/job.log`,
        `#SBATCH --chdir=${runDir}`,
        '#SBATCH --time=2',
        '#SBATCH --ntasks=1',
        '#SBATCH --cpus-per-task=2',
        '#SBATCH --mem=1536M',
        '#SBATCH --gres=gpu:2',
        '#SBATCH --partition=debug',
        '#SBATCH --account=proj1',
        '#SBATCH --qos=short',
        '#SBATCH --constraint=haswell',
        "export REPRISE_RUN_ID='r1'",
        "export MSG='it'\\''s $x'",
        `'ch-run' '--set-env' '-b' '${runDir}/project:/project' '-c' '/project' '/home/alice/.reprise/images/abc' '--' 'sh' '-c' 'exec "$@"' 'reprise-run' 'sh' '-c' 'echo "$MSG" > output/a'`,
        'rc=$?',
        `echo "$rc" > '${runDir}/exit_code.tmp' && mv -f '${runDir}/exit_code.tmp' '${runDir}/exit_code'`,
        'exit "$rc"',
        '',
      ].join('\n'),
    );
  });

  it('leaves out what the run does not ask for', () => {
    const script = batchScript({ jobName: 'reprise-r2', runDir, resources: {}, env: {}, command: 'true' });
    expect(script.split('\n').filter((l) => l.startsWith('#SBATCH'))).toEqual([
      '#SBATCH --job-name=reprise-r2',
      `#SBATCH --output=${runDir}/job.log`,
      `#SBATCH --chdir=${runDir}`,
      '#SBATCH --ntasks=1',
    ]);
  });

  it('carries a carriage return without one in the script (sbatch refuses "\\r\\n" as a DOS file), byte for byte', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reprise-batch-'));
    try {
      const args = ['a\r\nb', '\r', "it's\r"];
      const script = batchScript({ jobName: 'x', runDir: dir, resources: {}, env: { CR: 'x\ry' }, command: shellCommand(['printf', '%s|', ...args, '$CR']).replace(/'\$CR'$/, '"$CR"') });
      expect(script).not.toContain('\r');
      const out = execFileSync('sh', ['-c', script], { cwd: dir });
      expect(out.toString('latin1')).toBe('a\r\nb|\r|it\'s\r|x\ry|');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses values that would break a directive or an export', () => {
    expect(() => batchScript({ jobName: 'x', runDir, resources: {}, partition: 'a b', env: {}, command: 'true' })).toThrow(/partition/);
    expect(() => batchScript({ jobName: 'x', runDir, resources: {}, env: { 'A-B': '1' }, command: 'true' })).toThrow(/A-B/);
  });

  it('charliecloud binds the project and starts the command in the run\'s working directory', () => {
    expect(charliecloud.runCommand('/img', '/r/project', ['python', 'x.py'], 0)).toBe(`'ch-run' '--set-env' '-b' '/r/project:/project' '-c' '/project' '/img' '--' 'sh' '-c' 'exec "$@"' 'reprise-run' 'python' 'x.py'`);
    expect(charliecloud.runCommand('/img', '/r/project', ['python', 'x.py'], 0, '/project/code')).toBe(`'ch-run' '--set-env' '-b' '/r/project:/project' '-c' '/project/code' '/img' '--' 'sh' '-c' 'exec "$@"' 'reprise-run' 'python' 'x.py'`);
  });

  it('apptainer runs contained, binds only the project, passes the job\'s variables, sets the workdir and adds --nv for GPUs', () => {
    expect(apptainer.runCommand('/i.sif', '/r/project', ['python', 'x.py'], 1)).toBe(`'apptainer' 'exec' '--containall' '--bind' '/r/project:/project' '--pwd' '/project' '--nv' '/i.sif' 'sh' '-c' 'exec "$@"' 'reprise-run' 'python' 'x.py'`);
    expect(apptainer.runCommand('/i.sif', '/r/project', ['python', 'x.py'], 0, '/project/code', ['SEED', 'REPRISE_RUN_ID'])).toBe(
      `APPTAINERENV_SEED="$SEED" APPTAINERENV_REPRISE_RUN_ID="$REPRISE_RUN_ID" 'apptainer' 'exec' '--containall' '--bind' '/r/project:/project' '--pwd' '/project/code' '/i.sif' 'sh' '-c' 'exec "$@"' 'reprise-run' 'python' 'x.py'`,
    );
    expect(apptainer.convertCommand('/t.tar', '/t.sif')).toBe(`'apptainer' 'build' '/t.sif' 'docker-archive:/t.tar'`);
  });

  it('binds the run\'s secrets folder read-only at /run/secrets: apptainer with :ro; charliecloud (no read-only bind) in a mount namespace where the folder is bound read-only first, keeping the job\'s ids', () => {
    expect(charliecloud.runCommand('/img', '/r/project', ['x'], 0, '/project', [], '/r/secrets')).toBe(
      `mkdir -p '/img/run/secrets' && 'unshare' '-rm' 'sh' '-c' 'while [ "$1" != -- ]; do mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 1; shift; done; shift; exec "$@"' 'reprise-read-only' '/r/secrets' '--'` +
        ` ch-run --uid "$(id -u)" --gid "$(id -g)" '--set-env' '-b' '/r/project:/project' '-b' '/r/secrets:/run/secrets' '-c' '/project' '/img' '--' 'sh' '-c' 'exec "$@"' 'reprise-run' 'x'`,
    );
    expect(apptainer.runCommand('/i.sif', '/r/project', ['x'], 0, '/project', [], '/r/secrets')).toBe(
      `'apptainer' 'exec' '--containall' '--bind' '/r/project:/project' '--bind' '/r/secrets:/run/secrets:ro' '--pwd' '/project' '/i.sif' 'sh' '-c' 'exec "$@"' 'reprise-run' 'x'`,
    );
  });

  it('binds a tracked folder\'s tree read-only at its project path, after the project: apptainer with :ro; charliecloud remounted read-only in its namespace, as the secrets', () => {
    const tree = [{ source: '/w/data-cache/trees/0123456789abcdef0123456789abcdef', target: '/project/input/images' }];
    expect(charliecloud.runCommand('/img', '/r/project', ['x'], 0, '/project', [], undefined, tree)).toBe(
      `'unshare' '-rm' 'sh' '-c' 'while [ "$1" != -- ]; do mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 1; shift; done; shift; exec "$@"' 'reprise-read-only' '${tree[0]!.source}' '--'` +
        ` ch-run --uid "$(id -u)" --gid "$(id -g)" '--set-env' '-b' '/r/project:/project' '-b' '${tree[0]!.source}:/project/input/images' '-c' '/project' '/img' '--' 'sh' '-c' 'exec "$@"' 'reprise-run' 'x'`,
    );
    expect(apptainer.runCommand('/i.sif', '/r/project', ['x'], 0, '/project', [], '/r/secrets', tree)).toBe(
      `'apptainer' 'exec' '--containall' '--bind' '/r/project:/project' '--bind' '/r/secrets:/run/secrets:ro' '--bind' '${tree[0]!.source}:/project/input/images:ro' '--pwd' '/project' '/i.sif' 'sh' '-c' 'exec "$@"' 'reprise-run' 'x'`,
    );
  });

  it('pulls by digest with credentials from the environment only, and installs only the recorded image', () => {
    const ref = 'reg.example:5443/team/p@sha256:' + 'a'.repeat(64);
    const id = 'c'.repeat(64);
    const verify = (config: string) =>
      `{ test "$(sha256sum < '${config}' 2>/dev/null | cut -c1-64)" = '${id}' || { echo 'reprise: ${ref} is not the recorded image sha256:${id}' >&2; false; }; }`;
    const withAuth = charliecloud.pullCommand(ref, '/w/.in.img', '/w/.in.store', true, id);
    expect(withAuth).toBe(
      `CH_IMAGE_USERNAME="$REGISTRY_USERNAME" CH_IMAGE_PASSWORD="$REGISTRY_PASSWORD" CH_IMAGE_STORAGE='/w/.in.store' ch-image --no-cache pull --auth '${ref}'` +
        ` && ${verify(`/w/.in.store/dlcache/${id}.json`)}` +
        ` && CH_IMAGE_STORAGE='/w/.in.store' ch-convert -i ch-image -o dir '${ref}' '/w/.in.img' && mkdir -p '/w/.in.img/project'; rc=$?; rm -rf '/w/.in.store'; exit $rc`,
    );
    expect(charliecloud.pullCommand(ref, '/d', '/s', false, id)).not.toMatch(/REGISTRY_|--auth/);
    expect(apptainer.pullCommand(ref, '/i.sif', '/c', false, id)).toBe(
      `APPTAINER_CACHEDIR='/c' 'apptainer' 'build' '/i.sif' 'docker://${ref}' && ${verify(`/c/cache/blob/blobs/sha256/${id}`)}; rc=$?; rm -rf '/c'; exit $rc`,
    );
  });

});

const scontrolLine = (state: string, extra = '') =>
  `JobId=42 JobName=reprise-r1 UserId=hpcuser(1001) GroupId=hpcuser(1001) Priority=1 JobState=${state} Reason=${extra || 'None'} Dependency=(null) ExitCode=0:0 RunTime=00:00:03 TimeLimit=00:01:00 StartTime=2026-11-27T05:30:00 EndTime=2026-11-27T05:30:03 Partition=debug`;

describe('sbatch refusals', () => {
  it('names what sbatch refused for good, and leaves passing troubles to be retried', () => {
    expect(sbatchRefusal('sbatch: error: Memory specification can not be satisfied\nsbatch: error: Batch job submission failed: Requested node configuration is not available\n')).toBe(
      'Memory specification can not be satisfied; Batch job submission failed: Requested node configuration is not available',
    );
    expect(sbatchRefusal('sbatch: error: invalid partition specified: nope\n')).toBe('invalid partition specified: nope');
    expect(sbatchRefusal('sbatch: error: Batch job submission failed: Socket timed out on send/recv operation\n')).toBeUndefined();
    expect(sbatchRefusal('')).toBeUndefined();
  });
});

/** One job's sections written as `@name` lines, the way the cases below read best. */
function sections(out: string): StatusSections {
  const result: Record<string, string> = {};
  let current: string | undefined;
  for (const line of out.split('\n')) {
    const m = /^@(\w+)$/.exec(line);
    if (m) result[(current = m[1]!)] = '';
    else if (current) result[current] = `${result[current]}\n${line}`.trim();
  }
  return result;
}

describe('the batched status of many jobs', () => {
  it('gives each job its squeue line, its sacct row, its scontrol and exit_code, and the shared time zone', () => {
    const out = [
      '@tz', '+0100',
      '@squeue', '41 RUNNING None', '43 PENDING Resources', '',
      '@sacct', '42|COMPLETED|0:0|2026-11-27T05:30:00|2026-11-27T05:30:03', '',
      '@scontrol 44', scontrolLine('FAILED'),
      '@exit_code 41', '@exit_code 42', '0', '@exit_code 43', '@exit_code 44', '3', '',
    ].join('\n');
    const s = splitBatchStatus(out, ['41', '42', '43', '44']);
    expect(s.get('41')).toEqual({ tz: '+0100', squeue: 'RUNNING None', sacct: '', exit_code: '' });
    expect(s.get('42')).toEqual({ tz: '+0100', squeue: '', sacct: '42|COMPLETED|0:0|2026-11-27T05:30:00|2026-11-27T05:30:03', exit_code: '0' });
    expect(s.get('43')).toMatchObject({ squeue: 'PENDING Resources' });
    expect(s.get('44')).toMatchObject({ squeue: '', sacct: '', scontrol: expect.stringContaining('JobState=FAILED'), exit_code: '3' });
    expect(jobStatusFrom(s.get('41')!, '41', null)).toMatchObject({ phase: 'running' });
    expect(jobStatusFrom(s.get('42')!, '42', null)).toMatchObject({ phase: 'exited', exitCode: 0, finishedAt: '2026-11-27T04:30:03.000Z' });
    expect(jobStatusFrom(s.get('43')!, '43', null)).toEqual({ phase: 'pending', reason: 'Resources (squeue)' });
    expect(jobStatusFrom(s.get('44')!, '44', null)).toMatchObject({ phase: 'exited', exitCode: 3 });
  });

  it('a job id that is a prefix of another never takes its lines', () => {
    const s = splitBatchStatus('@tz\n+0000\n@squeue\n4 RUNNING None\n@sacct\n40|FAILED|1:0|x|y\n@exit_code 4\n@exit_code 40\n1\n', ['4', '40']);
    expect(s.get('4')).toMatchObject({ squeue: 'RUNNING None', sacct: '' });
    expect(s.get('40')).toMatchObject({ squeue: '', sacct: '40|FAILED|1:0|x|y', exit_code: '1' });
  });

  it('job array tasks (123_4) are jobs like any other', () => {
    const s = splitBatchStatus('@tz\n+0000\n@squeue\n123_4 RUNNING None\n@exit_code 123_4\n@exit_code 123_5\n0\n', ['123_4', '123_5']);
    expect(s.get('123_4')).toMatchObject({ squeue: 'RUNNING None' });
    expect(s.get('123_5')).toMatchObject({ squeue: '', exit_code: '0' });
  });

  it('sections of jobs not asked about are ignored', () => {
    expect([...splitBatchStatus('@tz\n+0000\n@squeue\n@exit_code 9\n0\n', ['4']).keys()]).toEqual(['4']);
  });
});

describe('job state from squeue / scontrol / sacct', () => {
  const status = (out: string, timeSeconds: number | null = null) => jobStatusFrom(sections(out), '42', timeSeconds);

  it('parses scontrol key=value fields', () => {
    expect(parseScontrol(scontrolLine('TIMEOUT', 'TimeLimit'))).toMatchObject({ JobState: 'TIMEOUT', Reason: 'TimeLimit', ExitCode: '0:0', TimeLimit: '00:01:00' });
  });

  it('pending and running come from squeue', () => {
    expect(status('@tz\n+0000\n@squeue\nPENDING\n@scontrol\n' + scontrolLine('PENDING'))).toEqual({ phase: 'pending' });
    expect(status('@tz\n+0000\n@squeue\nRUNNING\n@scontrol\n' + scontrolLine('RUNNING'))).toMatchObject({ phase: 'running', startedAt: '2026-11-27T05:30:00.000Z' });
    expect(status('@tz\n+0000\n@squeue\nCOMPLETING\n@scontrol\n' + scontrolLine('COMPLETING')).phase).toBe('running');
  });

  it('a pending job says why it waits, and a reason that never clears marks it as never starting', () => {
    expect(status('@tz\n+0000\n@squeue\nPENDING Resources\n@scontrol\n' + scontrolLine('PENDING'))).toEqual({ phase: 'pending', reason: 'Resources (squeue)' });
    expect(status('@tz\n+0000\n@squeue\nPENDING None\n@scontrol\n' + scontrolLine('PENDING'))).toEqual({ phase: 'pending' });
    for (const never of ['PartitionConfig', 'PartitionTimeLimit', 'BadConstraints', 'QOSMaxWallDurationPerJobLimit', 'AssocMaxCpuPerJobLimit']) {
      expect(status(`@tz\n+0000\n@squeue\nPENDING ${never}\n@scontrol\n` + scontrolLine('PENDING'))).toEqual({ phase: 'pending', reason: `${never} (squeue)`, never: true });
    }
    for (const wait of ['Priority', 'ReqNodeNotAvail, UnavailableNodes:n1', 'Dependency', 'QOSMaxJobsPerUserLimit']) {
      expect(status(`@tz\n+0000\n@squeue\nPENDING ${wait}\n@scontrol\n` + scontrolLine('PENDING')).never).toBeUndefined();
    }
  });

  it('a finished job squeue no longer shows resolves from scontrol and the exit_code file, in the cluster time zone', () => {
    expect(status(`@tz\n+0100\n@squeue\n@scontrol\n${scontrolLine('FAILED')}\n@exit_code\n3\n`)).toEqual({
      phase: 'exited', exitCode: 3, startedAt: '2026-11-27T04:30:00.000Z', finishedAt: '2026-11-27T04:30:03.000Z',
    });
    expect(status(`@tz\n+0000\n@squeue\n@scontrol\n${scontrolLine('COMPLETED')}\n@exit_code\n0\n`)).toMatchObject({ phase: 'exited', exitCode: 0 });
  });

  it('TIMEOUT is exit 124 with the asked-for limit', () => {
    expect(status(`@tz\n+0000\n@squeue\n@scontrol\n${scontrolLine('TIMEOUT', 'TimeLimit')}\n@exit_code\n`, 61)).toMatchObject({ phase: 'exited', exitCode: 124, reason: 'time limit 0:01:01 exceeded' });
  });

  it('CANCELLED is exited with a reason; sacct names who cancelled', () => {
    expect(status(`@tz\n+0000\n@squeue\n@scontrol\n${scontrolLine('CANCELLED')}\n@exit_code\n`)).toMatchObject({ phase: 'exited', exitCode: 130, reason: 'cancelled (SLURM job 42)' });
    expect(status('@tz\n+0000\n@squeue\n@scontrol\n@sacct\n42|CANCELLED by 1001|0:15|2026-11-27T05:30:00|2026-11-27T05:31:00\n@exit_code\n')).toMatchObject({
      phase: 'exited', exitCode: 130, reason: 'cancelled by 1001 (SLURM job 42)', finishedAt: '2026-11-27T05:31:00.000Z',
    });
  });

  it('sacct alone (purged from slurmctld) and OOM', () => {
    expect(status('@tz\n+0000\n@squeue\n@scontrol\n@sacct\n42|FAILED|3:0|2026-11-27T05:30:00|2026-11-27T05:31:00\n@exit_code\n')).toMatchObject({ phase: 'exited', exitCode: 3 });
    expect(status('@tz\n+0000\n@squeue\n@scontrol\n@sacct\n42|OUT_OF_MEMORY|0:125|Unknown|Unknown\n@exit_code\n')).toMatchObject({ phase: 'exited', exitCode: 137, reason: 'killed: out of memory' });
  });

  it('no accounting and purged: the exit_code file decides, else the job is lost', () => {
    expect(status('@tz\n+0000\n@squeue\n@scontrol\n@sacct\n@exit_code\n0\n')).toEqual({ phase: 'exited', exitCode: 0 });
    expect(status('@tz\n+0000\n@squeue\n@scontrol\n@sacct\n@exit_code\n')).toEqual({ phase: 'lost', reason: 'SLURM job 42 is unknown to squeue, scontrol and sacct' });
  });
});
