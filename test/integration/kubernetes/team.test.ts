// Team mode on the real Kubernetes test cluster, nothing shared: Alice submits from her account,
// workers of other accounts (no Docker; their own copy of the kubeconfig) run the project they
// fetch from a git daemon with the image Alice pushed to the registry the nodes pull from.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireDocker } from '../../helpers/docker.js';
import { account, copyOwned, GitServer, personEnv, recordedRuns, TeamTemporal, TeamWorker, UserCli, writeOwned, type Account, waitForRecord } from '../../helpers/team.js';
import { adminClients, backendConfig, loadClusterEnv } from './kubernetes-backend-env.js';
import { jobName } from '../../../src/backends/kubernetes/job-manifest.js';

const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const clusterEnv = loadClusterEnv();
const { batch } = adminClients(clusterEnv);

let temporal: TeamTemporal;
let git: GitServer;
let alice: UserCli;
let bob: UserCli;
const workers: TeamWorker[] = [];
let project: string;

function workerEnv(a: Account): Record<string, string> {
  const env = personEnv(a, temporal);
  const kubeconfig = copyOwned(a, clusterEnv.KUBECONFIG, '.kube/config');
  writeOwned(a, join(env.REPRISE_HOME!, 'config.yaml'), JSON.stringify({ backends: { k8s: backendConfig(clusterEnv, { kubeconfig }) }, worker: { allowedRemotes: [git.url('*')] } }));
  return env;
}

const recordOf = (runId: string, timeoutMs: number) => waitForRecord(git, 'team', runId, timeoutMs, () => `workers: ${workers.map((w) => w.output.text.slice(-2000)).join('\n---\n')}`);

beforeAll(async () => {
  requireDocker();
  const people = account('reprise-alice', ['docker']);
  const colleague = account('reprise-bob', ['docker']);
  temporal = await TeamTemporal.start();
  git = await GitServer.start(account('reprise-git'));
  await git.create('team');
  alice = new UserCli(people, personEnv(people, temporal, { REPRISE_TEAM: '1' }));
  bob = new UserCli(colleague, personEnv(colleague, temporal, { REPRISE_TEAM: '1' }));
  workers.push(await TeamWorker.start(account('reprise-worker'), workerEnv(account('reprise-worker')), ['k8s'], 'worker-a'));
  workers.push(await TeamWorker.start(account('reprise-worker2'), workerEnv(account('reprise-worker2')), ['k8s'], 'worker-b'));

  project = join(people.home, `k8s-team-${suite}`);
  expect((await alice.run(['init', project, '--name', 'k8steam', '--base', 'local/busybox:latest'])).code).toBe(0);
  writeOwned(people, join(project, 'code/tick.sh'), 'for i in 1 2 3 4 5; do echo "tick $i"; sleep 1; done\necho "$1" > output/result.txt\n', 0o644);
  // The registry the cluster's nodes pull from: the workers never need the image themselves.
  for (const args of [['remote', 'add', 'origin', git.url('team')], ['registry', 'set', backendConfig(clusterEnv).registry]]) {
    const r = await alice.run(args, project);
    expect(r.code, r.stderr).toBe(0);
  }
}, 600_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  temporal?.stop();
  git?.stop();
});

describe('team mode on Kubernetes: nothing shared', () => {
  it('Alice runs through a worker and sees the output live; the run is on the remote; Bob clones and sees it', async () => {
    const child = alice.spawn(['run', '--on', 'k8s', '--', 'sh', 'code/tick.sh', 'first'], project);
    const seen: { at: number; text: string }[] = [];
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => seen.push({ at: Date.now(), text: String(d) }));
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    const ended = Date.now();
    expect(code, stderr).toBe(0);
    expect(seen.map((s) => s.text).join('')).toBe('tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n');
    expect(ended - seen.find((s) => s.text.includes('tick 1'))!.at).toBeGreaterThan(2500);
    const runId = /run (run-[a-z2-7]+) on k8s/.exec(stderr)![1]!;
    const [record] = await recordOf(runId, 10_000);
    expect(record?.state).toBe('succeeded');
    expect(['worker-a', 'worker-b']).toContain(record?.worker);
    expect(git.git('team', 'show', 'main:output/result.txt')).toBe('first\n');

    const copy = join(bob.account.home, `k8s-team-${suite}`);
    expect((await bob.run(['clone', git.url('team'), copy])).code).toBe(0);
    expect((await bob.json<{ runId: string }[]>(['log'], copy)).map((e) => e.runId)).toContain(runId);
  });

  it('--reuse: the same run is recorded as reused from the remote (same bytes, no Job created); a changed source file runs a Job again', async () => {
    // The namespace's events name each Job the cluster created (the Job itself is removed after its run).
    const jobEvents = (runId: string) =>
      execFileSync('kubectl', ['--kubeconfig', clusterEnv.KUBECONFIG, '--context', clusterEnv.K8S_CONTEXT, '-n', clusterEnv.K8S_NAMESPACE, 'get', 'events', '--field-selector', `involvedObject.kind=Job,involvedObject.name=${jobName(runId)}`, '-o', 'name'], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean).length;
    writeOwned(alice.account, join(project, 'code/roll.sh'), 'head -c 12 /dev/urandom | od -An -tx1 | tr -d " \\n" > output/roll.txt; echo rolled\n', 0o644);
    const run = async (flags: string[]) => {
      const r = await alice.run(['run', '--on', 'k8s', ...flags, '--json', '--', 'sh', 'code/roll.sh'], project);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { runId: string; state: string; reusedFrom?: string; commit: string };
    };
    const original = await run([]);
    expect(original.state).toBe('succeeded');
    const bytes = git.git('team', 'show', `${original.commit}:output/roll.txt`);
    expect(bytes).toMatch(/^[0-9a-f]{24}$/);

    const again = await run(['--reuse']);
    expect(again).toMatchObject({ state: 'reused', reusedFrom: original.runId });
    expect(recordedRuns(git, 'team').find((r) => r.runId === again.runId)).toMatchObject({ state: 'reused' });
    expect(git.git('team', 'show', `${again.commit}:output/roll.txt`)).toBe(bytes);
    expect(git.git('team', 'show', `${again.commit}:.reprise/activity/${again.runId}.log`)).toBe('rolled\n');
    expect(git.git('team', 'log', '-1', '--format=%(trailers:key=Reprise-Reused-From,valueonly)', again.commit).trim()).toBe(original.runId);
    expect(readFileSync(join(project, 'output/roll.txt'), 'utf8')).toBe(bytes);

    writeOwned(alice.account, join(project, 'code/roll.sh'), `${readFileSync(join(project, 'code/roll.sh'), 'utf8')}# v2\n`, 0o644);
    const changed = await run(['--reuse']);
    expect(changed.state).toBe('succeeded');
    expect(changed.reusedFrom).toBeUndefined();
    // The control: the runs that executed have their Job's events; the reused run has none.
    expect(jobEvents(original.runId)).toBeGreaterThan(0);
    expect(jobEvents(changed.runId)).toBeGreaterThan(0);
    expect(jobEvents(again.runId)).toBe(0);
  }, 300_000);

  it('the worker running the workflow SIGKILLed mid-run: the other finishes it, recorded once, its Job removed', async () => {
    const started = await alice.run(['run', '--on', 'k8s', '--detach', '--', 'sh', '-c', 'echo start; sleep 20; echo survived > output/slow.txt'], project);
    expect(started.code, started.stderr).toBe(0);
    const runId = started.stdout.trim();
    let victim: TeamWorker | undefined;
    for (let i = 0; i < 1200 && !victim; i++) {
      victim = workers.find((w) => w.output.text.split('\n').some((l) => l.includes(runId) && l.includes('job submitted')));
      if (!victim) await new Promise((r) => setTimeout(r, 100));
    }
    expect(victim, 'no worker submitted the job').toBeDefined();
    victim!.kill();
    const [record, ...more] = await recordOf(runId, 240_000);
    expect(more).toEqual([]);
    expect(record?.state).toBe('succeeded');
    expect(record?.worker).toBe(victim === workers[0] ? 'worker-b' : 'worker-a');
    expect(git.git('team', 'show', 'main:output/slow.txt')).toBe('survived\n');
    // The record is published before the Job is removed: give the removal a moment.
    const jobsOfRun = async () => (await batch.listNamespacedJob({ namespace: clusterEnv.K8S_NAMESPACE })).items.filter((j) => j.metadata?.name?.includes(runId.slice(4)));
    for (let i = 0; i < 60 && (await jobsOfRun()).length > 0; i++) await new Promise((r) => setTimeout(r, 1000));
    expect(await jobsOfRun()).toEqual([]);
  }, 300_000);
});
