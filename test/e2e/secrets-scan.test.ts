// The secrets scan: a project synced and cloned through a remote whose URL carries a password
// (a real HTTP git server with basic authentication), runs whose images go to a registry that
// needs a login, and a team run through that remote on a worker with its own git credentials.
// With `reprise secret add` (project secrets), a project secret too; and a lab session's token.
// Afterwards none of the secret values is in any workflow's history (on the agent's Temporal and
// on the team's), in any file of the agent's or the worker's REPRISE_HOME (logs, run
// directories, Temporal's database), in the worker's output, in any git object of the project,
// the clone, the remote or the worker's cache, nor in `ps` output sampled all along. The team
// worker announces the run through its own webhook (its URL a secret too).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConnection, binRun, Cli, cliEnv } from '../helpers/cli.js';
import { BUSYBOX, requireDocker } from '../helpers/docker.js';
import { bareRepository, gitHttpServer, type GitHttpServer } from '../helpers/git-http.js';
import { makeLabProject, startLab } from '../helpers/lab.js';
import { WebhookReceiver } from '../helpers/notify-receivers.js';
import { git, tempDir } from '../helpers/project.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { TeamTemporal } from '../helpers/team.js';

const gitPassword = `gitpw-${randomBytes(12).toString('hex')}`;
const wrongPassword = `wrongpw-${randomBytes(12).toString('hex')}`;

/**
 * Every secret value the scan looks for. One line adds another (a project secret's content, a
 * lab's token), and every place below is searched for it.
 */
const secrets: { name: string; value: string }[] = [
  { name: 'the git remote password', value: gitPassword },
  { name: 'a mistyped git remote password', value: wrongPassword },
];

let server: GitHttpServer;
let registry: TestRegistry;
let temporal: TeamTemporal;
let cli: Cli;
let home: string;
let work: string;
let root: string;
let remoteUrl: string;
let worker: ChildProcess | undefined;
let hook: WebhookReceiver | undefined;
const workerOutput = { text: '' };
const workerHome = { reprise: '', unix: '' };

/**
 * `ps` of every process, sampled all along the test (argv is world-readable): each distinct
 * command line kept once, in a set. (A build beside the test, a Go compile of thousands of
 * packages, gives thousands of long distinct lines: a search of one growing text for each new
 * line starved this process until the file hung.) One sample at a time, 100 ms apart.
 */
const ps = { samples: 0, lines: new Set<string>(), stopped: false };
const samplePs = () =>
  new Promise<void>((resolve) =>
    execFile('ps', ['-eo', 'args', '--no-headers', '--width', '100000'], { maxBuffer: 64 * 2 ** 20 }, (_err, out) => {
      ps.samples++;
      for (const line of out.split('\n')) ps.lines.add(line);
      resolve();
    }),
  );
async function samplePsAllAlong(): Promise<void> {
  while (!ps.stopped) {
    await samplePs();
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  requireDocker();
  void samplePsAllAlong();
  server = await gitHttpServer('alice', gitPassword);
  bareRepository(server, 'fit.git');
  remoteUrl = `http://alice:${gitPassword}@${server.base.slice('http://'.length)}/fit.git`;
  registry = await startRegistry();
  secrets.push({ name: 'the registry password', value: registry.password }, { name: "the registry's basic auth", value: Buffer.from(`${registry.user}:${registry.password}`).toString('base64') });
  temporal = await TeamTemporal.start();
  home = await tempDir('reprise-scan-home-');
  cli = new Cli({ ...(await cliEnv(home)), DOCKER_CONFIG: registry.dockerConfig });
  work = await tempDir('reprise-scan-');
  expect((await cli.run(['init', 'fit', '--name', 'fit', '--base', BUSYBOX], work)).code).toBe(0);
  root = join(work, 'fit');
  writeFileSync(join(root, 'code/job.sh'), 'echo "hello from $HOSTNAME" > output/hello.txt\n');
  expect((await cli.run(['registry', 'set', registry.url], root)).code).toBe(0);
  if (hasCommand('secret:add')) {
    const value = `project-secret-${randomBytes(12).toString('hex')}`;
    const file = join(await tempDir('reprise-scan-secret-'), 'api-key');
    writeFileSync(file, value, { mode: 0o600 });
    const added = await cli.run(['secret', 'add', 'API_KEY', file], root);
    expect(added.code, added.stderr).toBe(0);
    secrets.push({ name: 'a project secret', value });
  }
}, 600_000);

/** Whether the built CLI has a command (project secrets come with `secret add`). */
function hasCommand(id: string): boolean {
  const manifest = JSON.parse(readFileSync(join(binRun, '../../oclif.manifest.json'), 'utf8')) as { commands: Record<string, unknown> };
  return id in manifest.commands;
}

afterAll(async () => {
  ps.stopped = true;
  worker?.kill('SIGTERM');
  await cli?.run(['agent', 'stop'], root ?? '/');
  temporal?.stop();
  await registry?.stop();
  await server?.close();
  await hook?.stop();
});

describe('a remote URL with a password', () => {
  it('remote add keeps the password out of the project: git config, listing, output', async () => {
    const added = await cli.run(['remote', 'add', 'origin', remoteUrl], root);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toBe(`added remote origin ${server.base.replace('//', '//alice@')}/fit.git\n`);
    const listed = JSON.parse((await cli.run(['remote', 'list', '--json'], root)).stdout) as { name: string; url: string }[];
    expect(listed).toEqual([{ name: 'origin', url: `${server.base.replace('//', '//alice@')}/fit.git` }]);
    expect(readFileSync(join(root, '.git/config'), 'utf8')).not.toContain(gitPassword);
    // Kept where the user's own secrets are, readable by the user alone.
    expect(statSync(join(home, 'git-credentials')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(home, 'git-credentials'), 'utf8')).toContain(gitPassword);
    // Plain git finds it too (asynchronously: the server answers from this process).
    expect(await gitAsync(root, 'ls-remote', 'origin')).toBe('');
  });

  it('sync pushes through it (the server saw the credentials)', async () => {
    const synced = await cli.run(['sync'], root);
    expect(synced.code, synced.stderr).toBe(0);
    expect(server.requests.some((r) => r.authenticated && r.path.endsWith('/git-receive-pack'))).toBe(true);
    expect(git(join(server.root, 'fit.git'), 'rev-parse', 'main')).toBe(git(root, 'rev-parse', 'HEAD'));
  });

  it('a run whose image goes to the registry is recorded, and synced', async () => {
    const ran = await cli.run(['run', '--', 'sh', 'code/job.sh'], root);
    expect(ran.code, ran.stderr).toBe(0);
    expect((await cli.run(['sync'], root)).code).toBe(0);
  }, 600_000);

  it('clone with it works; a wrong password fails with exit 3, the password in no message', async () => {
    const cloned = await cli.run(['clone', remoteUrl, 'copy'], work);
    expect(cloned.code, cloned.stderr).toBe(0);
    expect(cloned.stdout).not.toContain(gitPassword);
    expect(git(join(work, 'copy'), 'rev-parse', 'HEAD')).toBe(git(root, 'rev-parse', 'HEAD'));
    expect(readFileSync(join(work, 'copy/.git/config'), 'utf8')).not.toContain(gitPassword);
    const wrong = await cli.run(['clone', remoteUrl.replace(gitPassword, wrongPassword), 'nope'], work);
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/refused your credentials/);
    expect(wrong.stderr + wrong.stdout).not.toContain(wrongPassword);
  }, 120_000);

  it('a lab session on local Docker, stopped: its token is one more secret', async () => {
    const lab = await startLab(cli, await makeLabProject(cli, work, 'nb'), []);
    secrets.push({ name: "the lab's token", value: lab.token });
    const stopped = await cli.run(['lab', 'stop', lab.labId], join(work, 'nb'));
    expect(stopped.code, stopped.stderr).toBe(0);
    await lab.done;
  }, 900_000);

  it('a team run through the remote: the workflow input names it without credentials; the worker uses its own', async () => {
    workerHome.unix = await tempDir('reprise-scan-worker-unix-');
    workerHome.reprise = join(workerHome.unix, '.reprise');
    mkdirSync(workerHome.reprise, { mode: 0o700 });
    const host = server.base.slice('http://'.length);
    // The worker's operator gave it git credentials for the team's server, in git's own store.
    writeFileSync(join(workerHome.unix, '.gitconfig'), '[credential]\n\thelper = store\n');
    writeFileSync(join(workerHome.unix, '.git-credentials'), `http://alice:${gitPassword}@${host}\n`, { mode: 0o600 });
    // And a webhook for the team's channel, whose URL is its credential: the worker announces the run.
    hook = await WebhookReceiver.start();
    secrets.push({ name: "the team worker's webhook token", value: new URL(hook.url).pathname });
    writeFileSync(join(workerHome.reprise, 'config.yaml'), `worker:\n  allowedRemotes: ["http://${host}/*.git"]\nnotifiers:\n  channel: { kind: webhook, url: "${hook.url}", format: json }\n`, { mode: 0o600 });
    const workerEnv: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: workerHome.unix,
      REPRISE_HOME: workerHome.reprise,
      TEMPORAL_ADDRESS: temporal.address,
      ...temporal.clientEnv,
      DOCKER_CONFIG: registry.dockerConfig,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
    };
    delete workerEnv.GIT_CONFIG_GLOBAL;
    worker = spawn(process.execPath, [binRun, 'worker', '--backends', 'local', '--identity', 'scan-worker'], { env: workerEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    worker.stdout!.on('data', (d: Buffer) => (workerOutput.text += d));
    worker.stderr!.on('data', (d: Buffer) => (workerOutput.text += d));
    for (let i = 0; i < 600 && !/worker started/.test(workerOutput.text); i++) await new Promise((r) => setTimeout(r, 100));
    expect(workerOutput.text).toMatch(/worker started/);
    writeFileSync(join(root, 'code/job.sh'), 'echo "team run" > output/team.txt\n');
    const team = new Cli({ ...cli.env, REPRISE_TEAM: '1', TEMPORAL_ADDRESS: temporal.address, ...temporal.clientEnv });
    const ran = await team.run(['run', '--', 'sh', 'code/job.sh'], root);
    expect(ran.code, ran.stderr + workerOutput.text).toBe(0);
    expect(readFileSync(join(root, 'output/team.txt'), 'utf8')).toBe('team run\n');
    // The worker reached the remote by its credential-free URL.
    expect(workerOutput.text).toContain(`"remote":"http://${host}/fit.git"`);
    // A team run notifies through the worker's own notifiers, once.
    const runId = /run (run-[a-z2-7]{12}) \w+, exit code/.exec(ran.stderr)?.[1];
    await hook.waitFor(1);
    expect(hook.accepted()).toEqual([expect.objectContaining({ kind: 'run', id: runId, state: 'succeeded', exitCode: 0, command: ['sh', 'code/job.sh'] })]);
  }, 900_000);
});

describe('the scan', () => {
  it('finds no secret value anywhere it must not be', async () => {
    const found: string[] = [];
    const look = (where: string, text: string) => {
      for (const s of secrets) if (text.includes(s.value)) found.push(`${s.name} in ${where}`);
    };
    // Both Temporals take only mTLS: the agent its home's client certificate, the team its test CA's.
    const agent = () => agentConnection(cli.env);
    for (const [name, connect] of [
      ['the agent', agent],
      ['the team', () => temporal.connect()],
    ] as const) {
      const histories = await workflowHistories(await connect());
      expect(histories.size, `workflows on ${name}'s Temporal`).toBeGreaterThan(0);
      for (const [id, text] of histories) look(`the history of workflow ${id} on ${name}'s Temporal`, text);
    }
    // Where secrets belong is left out: the git password's store, project secrets' copies, the lab
    // key, the worker's config (its notifiers).
    for (const [dir, except] of [
      [home, ['git-credentials', 'secrets/', 'lab.key']],
      [workerHome.reprise, ['config.yaml']],
    ] as const) {
      for (const file of filesUnder(dir)) if (!except.some((e) => file === join(dir, e) || (e.endsWith('/') && file.startsWith(join(dir, e))))) look(file, readFileSync(file, 'latin1'));
    }
    look("the worker's output", workerOutput.text);
    for (const repo of [root, join(work, 'copy'), join(server.root, 'fit.git'), ...workerCaches()]) {
      look(`the git objects of ${repo}`, execFileSync('git', ['cat-file', '--batch-all-objects', '--batch'], { cwd: repo, encoding: 'latin1', maxBuffer: 1 << 30 }));
    }
    await samplePs();
    expect(ps.samples).toBeGreaterThan(100);
    // The commands the user typed hold the URL they were given (as `git clone URL` would); every
    // other process, Reprise's git commands above all, must not.
    const typed = (line: string) => line.startsWith(`${process.execPath} ${binRun} remote add origin `) || line.startsWith(`${process.execPath} ${binRun} clone `);
    for (const line of ps.lines) if (!typed(line)) look(`ps output (${line.slice(0, 200)})`, line);
    expect(found).toEqual([]);
  }, 300_000);
});

/** Every workflow's history on a Temporal, payloads decoded (they are JSON), as one text each. */
async function workflowHistories(connection: Connection): Promise<Map<string, string>> {
  try {
    const client = new Client({ connection });
    const out = new Map<string, string>();
    for await (const wf of client.workflow.list()) {
      const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      out.set(wf.workflowId, JSON.stringify(history, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v)));
    }
    return out;
  } finally {
    await connection.close();
  }
}

/** The worker's clones of the remote (none if it never reached it). */
const workerCaches = () => {
  const dir = join(workerHome.reprise, 'projects');
  return existsSync(dir) ? readdirSync(dir).map((p) => join(dir, p)) : [];
};

const gitAsync = (cwd: string, ...args: string[]) =>
  new Promise<string>((resolve, reject) => execFile('git', args, { cwd }, (err, out) => (err ? reject(err) : resolve(out))));

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}
