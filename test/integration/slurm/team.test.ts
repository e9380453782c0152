// Team mode on the real SLURM test cluster, nothing shared: Alice submits, workers of another
// account (no Docker, their own SSH key and registry login) run, Bob collaborates. The project
// travels through a git daemon, the image through the site registry by digest; the record comes
// back through the remote. Each account's home is 0700: none reads another's files.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import { requireDocker } from '../../helpers/docker.js';
import { readInfraEnv } from '../../helpers/infra.js';
import { account, copyOwned, GitServer, personEnv, recordedRuns, runAs, TeamTemporal, TeamWorker, UserCli, writeOwned, type Account, waitForRecord } from '../../helpers/team.js';
import { clusterConfig } from './slurm-backend-env.js';
import { workflowsPath } from '../../helpers/temporal.js';

const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const workdir = `~/reprise-it/team-${suite}`;
const cluster = clusterConfig(workdir);
const site = readInfraEnv('slurm', ['SLURM_REGISTRY', 'SLURM_REGISTRY_DOCKER_CONFIG']);
const admin = new SlurmBackend(cluster);

let temporal: TeamTemporal;
let git: GitServer;
let alice: UserCli;
let bob: UserCli;
let workerAccount: Account;
let otherWorkerAccount: Account;
const workers: TeamWorker[] = [];
let project: string;

/** A worker account's REPRISE_HOME with the `hpc` backend: its own copy of the SSH key, known_hosts and registry login. */
function workerEnv(a: Account): Record<string, string> {
  const env = personEnv(a, temporal);
  const key = copyOwned(a, cluster.identityFile, '.ssh/id_cluster');
  const known = copyOwned(a, cluster.knownHostsFile, '.ssh/known_hosts_cluster');
  copyOwned(a, join(site.SLURM_REGISTRY_DOCKER_CONFIG, 'config.json'), '.docker/config.json');
  // The team's remotes, and Alice's private one (allowed, so the test below sees it unreachable, not refused).
  const config = { backends: { hpc: { ...cluster, identityFile: key, knownHostsFile: known } }, worker: { allowedRemotes: [git.url('*'), '/home/reprise-alice/private-*.git'] } };
  writeOwned(a, join(env.REPRISE_HOME!, 'config.yaml'), JSON.stringify(config));
  return env;
}

/** The sacct job names of this run on the cluster (one per sbatch). */
async function jobsOf(runId: string): Promise<string[]> {
  const out = await admin.ssh.run(['sacct', '-n', '-X', '-P', '--starttime', 'now-1hour', '--format=JobName%80']);
  return out.split('\n').filter((n) => n.trim() === `reprise-${runId}`);
}

const recordOf = (runId: string, timeoutMs: number) => waitForRecord(git, 'team', runId, timeoutMs, () => `workers: ${workers.map((w) => w.output.text.slice(-2000)).join('\n---\n')}`);

beforeAll(async () => {
  requireDocker();
  const people = account('reprise-alice', ['docker']);
  const colleague = account('reprise-bob', ['docker']);
  workerAccount = account('reprise-worker'); // no Docker: everything reaches it by git and registry
  otherWorkerAccount = account('reprise-worker2');
  temporal = await TeamTemporal.start();
  git = await GitServer.start(account('reprise-git'));
  await git.create('team');
  await git.create('protected', { refuseRecords: true });

  for (const a of [people, colleague]) copyOwned(a, join(site.SLURM_REGISTRY_DOCKER_CONFIG, 'config.json'), '.docker/config.json');
  alice = new UserCli(people, personEnv(people, temporal, { REPRISE_TEAM: '1' }));
  bob = new UserCli(colleague, personEnv(colleague, temporal, { REPRISE_TEAM: '1' }));
  workers.push(await TeamWorker.start(workerAccount, workerEnv(workerAccount), ['hpc'], 'worker-a'));
  expect((await bob.run(['registry', 'set', `${site.SLURM_REGISTRY}/team-it`])).code).toBe(0);

  project = join(people.home, `team-${suite}`);
  const init = await alice.run(['init', project, '--name', 'team', '--base', 'local/busybox:latest']);
  expect(init.code, init.stderr).toBe(0);
  writeOwned(people, join(project, 'code/tick.sh'), 'for i in 1 2 3 4 5; do echo "tick $i"; sleep 1; done\necho done > output/result.txt\n', 0o644);
  writeOwned(people, join(project, 'code/slow.sh'), 'echo start; sleep 25; echo "$1" > output/slow.txt; echo end\n', 0o644);
  for (const args of [['remote', 'add', 'origin', git.url('team')], ['registry', 'set', `${site.SLURM_REGISTRY}/team-it`]]) {
    const r = await alice.run(args, project);
    expect(r.code, r.stderr).toBe(0);
  }
}, 600_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  temporal?.stop();
  git?.stop();
  await admin.ssh.exec(['rm', '-rf', `reprise-it/team-${suite}`]);
  admin.ssh.close();
});

describe('team mode on SLURM: three accounts, nothing shared', () => {
  // A cold image build and push, a run, a clone and a rerun through the cluster: over a minute on a loaded 2-CPU machine.
  it('Alice runs through the worker and sees the output live; the run is on the remote; Bob clones and sees it', { timeout: 240_000 }, async () => {
    const child = alice.spawn(['run', '--on', 'hpc', '--', 'sh', 'code/tick.sh'], project);
    const seen: { at: number; text: string }[] = [];
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => seen.push({ at: Date.now(), text: String(d) }));
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    const ended = Date.now();
    expect(code, stderr).toBe(0);
    expect(seen.map((s) => s.text).join('')).toBe('tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n');
    // Live: the first line arrived while the job still ran (it prints for 4 more seconds).
    const first = seen.find((s) => s.text.includes('tick 1'))!;
    expect(ended - first.at).toBeGreaterThan(2500);

    const runId = /run (run-[a-z2-7]+) on hpc/.exec(stderr)![1]!;
    const onRemote = recordedRuns(git, 'team').filter((r) => r.runId === runId);
    expect(onRemote).toEqual([{ runId, worker: 'worker-a', state: 'succeeded' }]);
    // Brought into Alice's project by the attached run: the record and the output.
    expect(readFileSync(join(project, 'output/result.txt'), 'utf8')).toBe('done\n');
    const feed = await alice.json<{ runId: string }[]>(['log'], project);
    expect(feed.map((e) => e.runId)).toContain(runId);

    const copy = join(bob.account.home, `team-${suite}`);
    const cloned = await bob.run(['clone', git.url('team'), copy]);
    expect(cloned.code, cloned.stderr).toBe(0);
    const bobFeed = await bob.json<{ runId: string; state: string }[]>(['log'], copy);
    expect(bobFeed.find((e) => e.runId === runId)?.state).toBe('succeeded');
    // The record names the image by digest and carries its environment lock, captured where
    // Alice built the image (the workers have no Docker).
    const record = JSON.parse(git.git('team', 'show', `main:.reprise/activity/${runId}.json`)) as { image: { reference?: string }; environmentLock?: { sha256: string }; worker?: string };
    expect(record.image.reference).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(record.environmentLock?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(record.worker).toBe('worker-a');

    // Bob reruns Alice's run through the worker: the recorded source and image, recorded as a rerun.
    const rerun = await bob.run(['rerun', runId, '--on', 'hpc'], copy);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toBe('tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n');
    const rerunId = /run (run-[a-z2-7]+) on hpc/.exec(rerun.stderr)![1]!;
    expect(JSON.parse(git.git('team', 'show', `main:.reprise/activity/${rerunId}.json`))).toMatchObject({ rerunOf: runId, state: 'succeeded', worker: 'worker-a' });

    // Nothing shared: no account reads another's home.
    for (const [who, whose] of [[alice.account, workerAccount], [workerAccount, alice.account], [bob.account, alice.account]] as const) {
      expect((await runAs(who, 'ls', [whose.home])).code).not.toBe(0);
    }
  });

  it('--reuse: the same run is recorded as reused by the worker from the remote (same bytes, no job), Bob sees it; a changed source file runs again', async () => {
    writeOwned(alice.account, join(project, 'code/roll.sh'), 'head -c 12 /dev/urandom | od -An -tx1 | tr -d " \\n" > output/roll.txt; echo rolled\n', 0o644);
    const CMD = ['sh', 'code/roll.sh'];
    const runJson = async (flags: string[]) => {
      const r = await alice.run(['run', '--on', 'hpc', ...flags, '--json', '--', ...CMD], project);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { runId: string; state: string; exitCode: number; reusedFrom?: string; commit: string };
    };
    const original = await runJson([]);
    expect(original.state).toBe('succeeded');
    const bytes = git.git('team', 'show', `${original.commit}:output/roll.txt`);
    expect(bytes).toMatch(/^[0-9a-f]{24}$/);

    // Human form, as a user sees it: the original's log on stdout, one line saying what was reused.
    const t0 = Date.now();
    const again = await alice.run(['run', '--on', 'hpc', '--reuse', '--', ...CMD], project);
    const seconds = (Date.now() - t0) / 1000;
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe('rolled\n');
    const line = new RegExp(`^run (run-[a-z2-7]{12}) reused ${original.runId} \\(not executed: same key\\), exit code 0; recorded in [0-9a-f]{12}$`, 'm');
    expect(again.stderr).toMatch(line);
    const reusedId = line.exec(again.stderr)![1]!;
    console.log(`team reuse: the reused run took ${seconds.toFixed(2)} s through the CLI, load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`);

    // Published on the team branch by the worker, as publishRun publishes: state, origin, key, the original's outputs and log.
    expect(recordedRuns(git, 'team').filter((r) => r.runId === reusedId)).toEqual([{ runId: reusedId, worker: 'worker-a', state: 'reused' }]);
    const trailers = (run: string) => git.git('team', 'log', '-1', '--format=%(trailers:only,unfold)', '--grep', `Reprise-Run: ${run}`, 'main');
    expect(trailers(reusedId)).toContain(`Reprise-Reused-From: ${original.runId}\n`);
    expect(/Reprise-Key: (\S+)/.exec(trailers(reusedId))?.[1]).toBe(/Reprise-Key: (\S+)/.exec(trailers(original.runId))?.[1]);
    const record = JSON.parse(git.git('team', 'show', `main:.reprise/activity/${reusedId}.json`)) as { state: string; reusedFrom?: string; worker?: string; outputs: { path: string }[] };
    expect(record).toMatchObject({ state: 'reused', reusedFrom: original.runId, worker: 'worker-a' });
    expect(record.outputs.map((o) => o.path)).toEqual(['output/roll.txt']);
    expect(git.git('team', 'show', `main:.reprise/activity/${reusedId}.log`)).toBe('rolled\n');
    expect(git.git('team', 'show', 'main:output/roll.txt')).toBe(bytes);
    // Brought into Alice's project by the attached run.
    expect(readFileSync(join(project, 'output/roll.txt'), 'utf8')).toBe(bytes);
    expect((await alice.json<{ runId: string; state: string }[]>(['log'], project)).find((e) => e.runId === reusedId)?.state).toBe('reused');

    // Bob's sync and feed show the reused record.
    const copy = join(bob.account.home, `team-${suite}`);
    const synced = await bob.run(['sync'], copy);
    expect(synced.code, synced.stderr).toBe(0);
    expect((await bob.json<{ runId: string; state: string }[]>(['log'], copy)).find((e) => e.runId === reusedId)?.state).toBe('reused');

    // A changed source file: a new run executes on the cluster (the control that its jobs are seen).
    writeOwned(alice.account, join(project, 'code/roll.sh'), `${readFileSync(join(project, 'code/roll.sh'), 'utf8')}# v2\n`, 0o644);
    const changed = await runJson(['--reuse']);
    expect(changed.state).toBe('succeeded');
    expect(changed.reusedFrom).toBeUndefined();
    expect(git.git('team', 'show', `${changed.commit}:output/roll.txt`)).not.toBe(bytes);
    // sacct may lag a job that has ended: asked until it knows the control's (and the original's), then the reused run had none.
    for (let i = 0; i < 60 && ((await jobsOf(changed.runId)).length === 0 || (await jobsOf(original.runId)).length === 0); i++) await new Promise((r) => setTimeout(r, 1000));
    expect(await jobsOf(changed.runId)).toHaveLength(1);
    expect(await jobsOf(original.runId)).toHaveLength(1);
    expect(await jobsOf(reusedId)).toEqual([]);
    expect((await admin.ssh.run(['squeue', '-h', '--name', `reprise-${reusedId}`, '-o', '%i'])).trim()).toBe('');

    // The reused run's history (its patched recording step) replays on today's workflow code.
    const connection = await temporal.connect();
    try {
      const history = await new Client({ connection }).workflow.getHandle(reusedId).fetchHistory();
      await Worker.runReplayHistory({ workflowsPath }, history, reusedId);
    } finally {
      await connection.close();
    }
  }, 300_000);

  it('a worker SIGKILLed mid-run: a worker of another account finishes it, one job, recorded once', async () => {
    workers.push(await TeamWorker.start(otherWorkerAccount, workerEnv(otherWorkerAccount), ['hpc'], 'worker-b'));
    const started = await alice.run(['run', '--on', 'hpc', '--detach', '--', 'sh', 'code/slow.sh', 'survived'], project);
    expect(started.code, started.stderr).toBe(0);
    const runId = started.stdout.trim();
    // Bob follows Alice's run from his own account and clone: live, through the kill, each line once.
    const copy = join(bob.account.home, `team-${suite}`);
    const following = bob.spawn(['logs', runId.slice(0, 10), '--follow'], copy);
    let followed = '';
    let followErr = '';
    following.stdout!.on('data', (d: Buffer) => (followed += d));
    following.stderr!.on('data', (d: Buffer) => (followErr += d));
    const followExit = new Promise<number | null>((r) => following.on('close', r));
    // The worker that submitted the job is the one running the run's workflow: kill it.
    let victim: TeamWorker | undefined;
    for (let i = 0; i < 600 && !victim; i++) {
      victim = workers.find((w) => w.output.text.includes(runId) && /job submitted/.test(w.output.text.split('\n').filter((l) => l.includes(runId)).join('\n')));
      if (!victim) await new Promise((r) => setTimeout(r, 100));
    }
    expect(victim, 'no worker submitted the job').toBeDefined();
    victim!.kill();
    const survivor = victim === workers[0] ? 'worker-b' : 'worker-a';

    const result = await recordOf(runId, 180_000);
    expect(result).toEqual([{ runId, worker: survivor, state: 'succeeded' }]);
    expect(await jobsOf(runId)).toHaveLength(1);
    expect(git.git('team', 'show', `main:output/slow.txt`)).toBe('survived\n');
    expect(await followExit, followErr).toBe(0);
    expect(followed).toBe('start\nend\n');
    // Bob's sync brings the run in.
    const synced = await bob.run(['sync'], copy);
    expect(synced.code, synced.stderr).toBe(0);
    expect((await bob.json<{ runId: string }[]>(['log'], copy)).map((e) => e.runId)).toContain(runId);
    // Replace the killed worker for what follows.
    const killedA = victim === workers[0];
    workers.splice(workers.indexOf(victim!), 1);
    workers.push(await TeamWorker.start(killedA ? workerAccount : otherWorkerAccount, workerEnv(killedA ? workerAccount : otherWorkerAccount), ['hpc'], killedA ? 'worker-a' : 'worker-b'));
  }, 300_000);

  it('20 runs from two people through two workers finishing together: 20 records, none lost, none duplicated', async () => {
    const copy = join(bob.account.home, `team-${suite}`);
    const submit = async (cli: UserCli, dir: string, who: string) => {
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) {
        const r = await cli.run(['run', '--on', 'hpc', '--detach', '--', 'sh', '-c', `sleep 4; echo ${who}-${i} > output/${who}-${i}.txt`], dir);
        expect(r.code, r.stderr).toBe(0);
        ids.push(r.stdout.trim());
      }
      return ids;
    };
    const ids = (await Promise.all([submit(alice, project, 'alice'), submit(bob, copy, 'bob')])).flat();
    expect(new Set(ids).size).toBe(20);
    for (const id of ids) await recordOf(id, 300_000);
    const records = recordedRuns(git, 'team').filter((r) => ids.includes(r.runId));
    expect(records).toHaveLength(20);
    expect(new Set(records.map((r) => r.runId)).size).toBe(20);
    expect(records.filter((r) => r.state !== 'succeeded')).toEqual([]);
    // A workflow closes just after its record is published: wait for the last ones to close.
    let flows: { id: string; status: string }[] = [];
    for (const end = Date.now() + 120_000; Date.now() < end; await new Promise((r) => setTimeout(r, 1000))) {
      flows = (await temporal.workflows()).filter((w) => ids.includes(w.id));
      if (flows.length === 20 && flows.every((w) => w.status !== 'RUNNING')) break;
    }
    expect(flows).toHaveLength(20);
    expect(flows.filter((w) => w.status !== 'COMPLETED')).toEqual([]);
    for (const id of ids) expect(await jobsOf(id)).toHaveLength(1);
  }, 600_000);
});

describe('team mode: bad input and refusals, each one line and nothing lost', () => {
  it('a project with no remote: exit 2 naming the fix, the project untouched', async () => {
    const lone = join(alice.account.home, `lone-${suite}`);
    expect((await alice.run(['init', lone, '--name', 'lone', '--base', 'local/busybox:latest'])).code).toBe(0);
    const before = await runAs(alice.account, 'git', ['log', '--format=%H'], { cwd: lone });
    const r = await alice.run(['run', '--on', 'hpc', '--', 'true'], lone);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Error: team mode .* this project has none; add one the workers can reach: reprise remote add origin URL/m);
    expect((await runAs(alice.account, 'git', ['log', '--format=%H'], { cwd: lone })).stdout).toBe(before.stdout);
  });

  it('no worker serves the backend: the CLI says so within seconds, exit 3', async () => {
    const t0 = Date.now();
    const r = await alice.run(['run', '--on', 'gpu', '--', 'true'], project);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no worker serves backend "gpu" .* reprise worker --backends gpu/);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it("the worker's push refused: exit 3 naming where the record is kept", async () => {
    const dir = join(alice.account.home, `protected-${suite}`);
    expect((await alice.run(['init', dir, '--name', 'protected', '--base', 'local/busybox:latest'])).code).toBe(0);
    for (const args of [['remote', 'add', 'origin', git.url('protected')], ['registry', 'set', `${site.SLURM_REGISTRY}/team-it`]]) expect((await alice.run(args, dir)).code).toBe(0);
    const r = await alice.run(['run', '--on', 'hpc', '--', 'sh', '-c', 'echo hi'], dir);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/could not publish run run-[a-z2-7]+: remote .* refused the push .*; its record commit [0-9a-f]{12} is kept on the worker as refs\/reprise\/unpublished\/run-/);
    expect(recordedRuns(git, 'protected')).toEqual([]);
  });

  it('a remote the worker cannot reach: exit 3 naming it, nothing submitted', async () => {
    const dir = join(alice.account.home, `private-${suite}`);
    const bare = join(alice.account.home, `private-${suite}.git`);
    expect((await runAs(alice.account, 'git', ['init', '--quiet', '--bare', bare])).code).toBe(0);
    expect((await alice.run(['init', dir, '--name', 'private', '--base', 'local/busybox:latest'])).code).toBe(0);
    for (const args of [['remote', 'add', 'origin', bare], ['registry', 'set', `${site.SLURM_REGISTRY}/team-it`]]) expect((await alice.run(args, dir)).code).toBe(0);
    const r = await alice.run(['run', '--on', 'hpc', '--', 'true'], dir);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/the worker cannot reach the project's remote: remote ".*private-.*\.git" is unreachable/);
  });
});

