// The dashboard's Team view on a real team: a Temporal of the team's own (mTLS), a git daemon as
// the remote, two people and two workers as separate Unix accounts (the team-mode suites' setup),
// runs on the SLURM test cluster. Bob opens the dashboard in his clone with REPRISE_TEAM=1.
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlurmBackend } from '../../src/backends/slurm/slurm-backend.js';
import { TeamView } from '../../src/dashboard/schemas.js';
import { artifactPath, launchChromium } from '../helpers/browser.js';
import { axeViolations, fitsWidth, startDashboard } from '../helpers/dashboard.js';
import { requireDocker } from '../helpers/docker.js';
import { readInfraEnv } from '../helpers/infra.js';
import { account, copyOwned, GitServer, personEnv, TeamTemporal, TeamWorker, UserCli, writeOwned, type Account } from '../helpers/team.js';
import { clusterConfig } from '../integration/slurm/slurm-backend-env.js';

const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const workdir = (name: string) => `~/reprise-it/dash-team-${suite}-${name}`;
const cluster = clusterConfig(workdir('x'));
const site = readInfraEnv('slurm', ['SLURM_REGISTRY', 'SLURM_REGISTRY_DOCKER_CONFIG']);

let temporal: TeamTemporal;
let git: GitServer;
let alice: UserCli;
let bob: UserCli;
const workers: TeamWorker[] = [];
let bobCopy: string;
let server: ChildProcess | undefined;
let base: string;
let browser: Browser;
let page: Page;
let aliceRun: string;
let bobRun: string;
let liveRun: string | undefined;

/** A worker's REPRISE_HOME with one backend on the test cluster under `backend` (each worker its own, so each run's worker is known). */
function workerEnv(a: Account, backend: string): Record<string, string> {
  const env = personEnv(a, temporal);
  const key = copyOwned(a, cluster.identityFile, '.ssh/id_cluster');
  const known = copyOwned(a, cluster.knownHostsFile, '.ssh/known_hosts_cluster');
  copyOwned(a, join(site.SLURM_REGISTRY_DOCKER_CONFIG, 'config.json'), '.docker/config.json');
  const config = { backends: { [backend]: { ...cluster, workdir: workdir(backend), identityFile: key, knownHostsFile: known } }, worker: { allowedRemotes: [git.url('*')] } };
  writeOwned(a, join(env.REPRISE_HOME!, 'config.yaml'), JSON.stringify(config));
  return env;
}

const runIdOf = (stderr: string, backend: string) => new RegExp(`run (run-[a-z2-7]+) on ${backend}`).exec(stderr)![1]!;

beforeAll(async () => {
  requireDocker();
  const people = account('reprise-alice', ['docker']);
  const colleague = account('reprise-bob', ['docker']);
  const workerAccount = account('reprise-worker');
  temporal = await TeamTemporal.start();
  git = await GitServer.start(account('reprise-git'));
  await git.create('team');
  for (const a of [people, colleague]) copyOwned(a, join(site.SLURM_REGISTRY_DOCKER_CONFIG, 'config.json'), '.docker/config.json');
  alice = new UserCli(people, personEnv(people, temporal, { REPRISE_TEAM: '1' }));
  bob = new UserCli(colleague, personEnv(colleague, temporal, { REPRISE_TEAM: '1' }));
  workers.push(await TeamWorker.start(workerAccount, workerEnv(workerAccount, 'hpc'), ['hpc'], 'worker-a'));
  workers.push(await TeamWorker.start(workerAccount, workerEnv(workerAccount, 'hpc2'), ['hpc2'], 'worker-b'));
  for (const u of [alice, bob]) expect((await u.run(['registry', 'set', `${site.SLURM_REGISTRY}/team-it`])).code).toBe(0);

  // Alice: a project on the team remote, one run through worker-a.
  const project = join(people.home, `dash-team-${suite}`);
  const init = await alice.run(['init', project, '--name', 'teamdash', '--base', 'local/busybox:latest']);
  expect(init.code, init.stderr).toBe(0);
  writeOwned(people, join(project, 'code/alice.sh'), 'echo from alice > output/alice.txt\n', 0o644);
  expect((await alice.run(['remote', 'add', 'origin', git.url('team')], project)).code).toBe(0);
  const a = await alice.run(['run', '--on', 'hpc', '--', 'sh', 'code/alice.sh'], project);
  expect(a.code, a.stderr).toBe(0);
  aliceRun = runIdOf(a.stderr, 'hpc');

  // Bob: clones, changes the code (his own source commit), runs through worker-b.
  bobCopy = join(colleague.home, `dash-team-${suite}`);
  const cloned = await bob.run(['clone', git.url('team'), bobCopy]);
  expect(cloned.code, cloned.stderr).toBe(0);
  writeOwned(colleague, join(bobCopy, 'code/bob.sh'), 'echo from bob > output/bob.txt\n', 0o644);
  const b = await bob.run(['run', '--on', 'hpc2', '--', 'sh', 'code/bob.sh'], bobCopy);
  expect(b.code, b.stderr).toBe(0);
  bobRun = runIdOf(b.stderr, 'hpc2');

  ({ server, base } = await startDashboard((args) => bob.spawn(args, bobCopy), 'teamdash'));
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
}, 900_000);

afterAll(async () => {
  await browser?.close();
  if (liveRun) await bob.run(['cancel', liveRun], bobCopy);
  server?.kill('SIGINT');
  await Promise.all(workers.map((w) => w.stop()));
  temporal?.stop();
  git?.stop();
  const admin = new SlurmBackend(cluster);
  await admin.ssh.exec(['sh', '-c', `rm -rf reprise-it/dash-team-${suite}-*`]).catch(() => undefined);
  admin.ssh.close();
}, 120_000);

const team = async (query = '') => {
  const res = await fetch(`${base}/api/team${query}`);
  expect(res.status).toBe(200);
  return TeamView.parse(await res.json());
};

describe('the Team view', () => {
  it('GET /api/team: every person\'s recorded runs with the worker that executed each, a live run with the worker running it, filters', { timeout: 300_000 }, async () => {
    const all = await team();
    expect(all).toMatchObject({ team: true, temporalAddress: temporal.address, people: ['reprise-alice', 'reprise-bob'], workers: ['worker-a', 'worker-b'] });
    expect(all.runs.find((r) => r.runId === aliceRun)).toMatchObject({ recorded: true, person: 'reprise-alice', worker: 'worker-a', backend: 'hpc', state: 'succeeded', command: ['sh', 'code/alice.sh'] });
    expect(all.runs.find((r) => r.runId === bobRun)).toMatchObject({ recorded: true, person: 'reprise-bob', worker: 'worker-b', backend: 'hpc2', state: 'succeeded' });

    expect((await team('?person=reprise-bob')).runs.map((r) => r.runId)).toEqual([bobRun]);
    expect((await team('?worker=worker-a')).runs.map((r) => r.runId)).toEqual([aliceRun]);
    expect((await team('?person=reprise-alice&worker=worker-b')).runs).toEqual([]);

    // A run still going: listed from the team's Temporal with the worker executing it.
    writeOwned(bob.account, join(bobCopy, 'code/live.sh'), 'echo live; sleep 120\n', 0o644);
    const started = await bob.run(['run', '--on', 'hpc', '--detach', '--', 'sh', 'code/live.sh'], bobCopy);
    expect(started.code, started.stderr).toBe(0);
    liveRun = /run-[a-z2-7]{12}/.exec(started.stdout + started.stderr)![0];
    let live: TeamView['runs'][number] | undefined;
    for (let i = 0; i < 180 && !live?.worker; i++) {
      live = (await team()).runs.find((r) => r.runId === liveRun);
      if (!live?.worker) await new Promise((r) => setTimeout(r, 1000));
    }
    // Its person: the author of the source commit it was started from (memo), found in this clone.
    expect(live).toMatchObject({ recorded: false, person: 'reprise-bob', worker: 'worker-a', backend: 'hpc' });
  });

  it('shows them in the page, filtered by person and worker through the URL; keyboard-operable, axe-clean, fits a phone', { timeout: 120_000 }, async () => {
    await page.goto(`${base}/#/team`);
    const rows = page.locator('#team-runs tbody tr');
    await page.locator('#team-runs tbody tr', { hasText: aliceRun }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#team-runs tbody tr', { hasText: aliceRun }).locator('td').allTextContents()).toEqual(
      expect.arrayContaining([aliceRun, 'reprise-alice', 'worker-a', 'succeeded', 'hpc']),
    );
    expect(await page.locator('#team-runs tbody tr', { hasText: bobRun }).locator('td').allTextContents()).toEqual(expect.arrayContaining([bobRun, 'reprise-bob', 'worker-b', 'succeeded', 'hpc2']));
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: artifactPath('dashboard-team.png'), fullPage: true });

    // By keyboard: focus the person filter, arrow down past everyone and Alice to Bob.
    await page.locator('#team-person').focus();
    await page.keyboard.press('ArrowDown');
    await page.waitForURL(/#\/team\?person=reprise-alice$/);
    await page.keyboard.press('ArrowDown');
    await page.waitForURL(/#\/team\?person=reprise-bob$/);
    // Bob's recorded run and his live one; none of Alice's.
    await page.waitForFunction(() => document.querySelectorAll('#team-runs tbody tr').length === 2);
    expect((await rows.locator('td:first-child').allTextContents()).sort()).toEqual([bobRun, liveRun!].sort());

    // A bookmarked filter by worker.
    await page.goto('about:blank');
    await page.goto(`${base}/#/team?worker=worker-b`);
    await page.locator('#team-runs tbody tr', { hasText: bobRun }).waitFor({ timeout: 30_000 });
    expect(await rows.count()).toBe(1);
    expect(await page.locator('#team-worker').inputValue()).toBe('worker-b');

    const phone = await browser.newPage({ viewport: { width: 375, height: 800 }, bypassCSP: true });
    await phone.goto(`${base}/#/team`);
    await phone.locator('#team-runs tbody tr', { hasText: aliceRun }).waitFor({ timeout: 30_000 });
    expect(await fitsWidth(phone)).toBe(true);
    await phone.screenshot({ path: artifactPath('dashboard-team-phone.png'), fullPage: true });
    await phone.close();
  });
});
