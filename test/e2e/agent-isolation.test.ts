// Another local account cannot reach my agent. The test makes a second Unix account, outside the
// docker group (it needs root: CI and the team machine run tests as root), and tries what an
// attacker on a shared machine would: start, signal and list workflows on the owner's agent with
// the `temporal` CLI and with the TypeScript client (plain, TLS without a certificate, TLS with a
// certificate of its own), reach the dev server's own ports, and the chain the trust review found:
// start `runProject` with a job that links output/ to a root-only folder, so the owner's worker
// would commit that folder into the owner's project. The owner, meanwhile, can do all of it.
// A control agent started with REPRISE_AGENT_ISOLATION=off shows the attacker's tools do work
// against an open agent, so each refusal below is the isolation's doing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@temporalio/client';
import { connectTemporal } from '../../src/client/agent.js';
import { readEnv } from '../../src/config/env.js';
import { Cli, cliEnv, collect, repoRoot, type CliResult } from '../helpers/cli.js';
import { BUSYBOX, requireDocker } from '../helpers/docker.js';
import { git, tempDir } from '../helpers/project.js';

const ATTACKER = 'reprise-mallory';
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });

let owner: Cli;
let open: Cli;
let root: string;
let secretDir: string;
let canary: string;
let toolDir: string;
let temporalBin: string;

/** A command as the attacker, in its own environment only (env -i: nothing of root's leaks). */
function asAttacker(cmd: string, args: string[]): Promise<CliResult> {
  const home = sh('getent', ['passwd', ATTACKER]).split(':')[5]!;
  const env = [`HOME=${home}`, `USER=${ATTACKER}`, 'PATH=/usr/local/bin:/usr/bin:/bin'];
  return collect(spawn('runuser', ['-u', ATTACKER, '--', 'env', '-i', ...env, cmd, ...args], { cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] }));
}

const attackerTemporal = (port: string, args: string[]) => asAttacker(temporalBin, [...args, '--address', `127.0.0.1:${port}`, '--command-timeout', '10s', '--client-connect-timeout', '5s']);

/** The attacker's own TypeScript client (attack.mjs): one JSON line per attempt. */
async function attackerClient(port: string, action: 'list' | 'start', input?: unknown): Promise<{ mode: string; ok: boolean; detail: string }[]> {
  const r = await asAttacker(process.execPath, [join(toolDir, 'attack.mjs'), port, action, JSON.stringify(input ?? null)]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { mode: string; ok: boolean; detail: string });
}

const attackScript = (clientModule: string) => `
import { Connection, Client } from ${JSON.stringify(clientModule)};
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
const [port, action, inputJson] = process.argv.slice(2);
const input = JSON.parse(inputJson);
// A client certificate of the attacker's own making.
const dir = mkdtempSync(join(tmpdir(), 'mallory-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=mallory', '-keyout', join(dir, 'k'), '-out', join(dir, 'c')], { stdio: 'ignore' });
const own = { crt: readFileSync(join(dir, 'c')), key: readFileSync(join(dir, 'k')) };
const modes = {
  plain: {},
  'tls without a certificate': { tls: { serverNameOverride: 'reprise-agent' } },
  'tls with its own certificate': { tls: { serverNameOverride: 'reprise-agent', clientCertPair: own } },
};
for (const [mode, options] of Object.entries(modes)) {
  try {
    const connection = await Connection.connect({ address: '127.0.0.1:' + port, connectTimeout: 5000, ...options });
    const client = new Client({ connection });
    let detail;
    if (action === 'list') {
      const ids = [];
      for await (const w of client.workflow.list()) ids.push(w.workflowId);
      detail = ids.join(',');
    } else {
      const h = await client.workflow.start('runProject', { workflowId: input.runId + '-' + Object.keys(modes).indexOf(mode), taskQueue: 'reprise', args: [input] });
      detail = h.workflowId;
    }
    await connection.close();
    console.log(JSON.stringify({ mode, ok: true, detail }));
  } catch (err) {
    console.log(JSON.stringify({ mode, ok: false, detail: String(err && err.message).split('\\n')[0] }));
  }
}
`;

beforeAll(async () => {
  if (process.getuid?.() !== 0) {
    throw new Error('this test needs a second Unix account: run it as root (it creates the account reprise-mallory with useradd), e.g. sudo npx vitest run --project e2e test/e2e/agent-isolation.test.ts');
  }
  requireDocker();
  if (spawnSync('id', ['-u', ATTACKER]).status !== 0) sh('useradd', ['-m', '-s', '/bin/sh', ATTACKER]);
  expect(sh('id', ['-nG', ATTACKER]).split(/\s+/)).not.toContain('docker');

  // What the attacker may run: a copy of the temporal CLI and its own client script, world-readable.
  toolDir = await tempDir('reprise-isolation-tools-');
  chmodSync(toolDir, 0o755);
  temporalBin = join(toolDir, 'temporal');
  copyFileSync(sh('sh', ['-c', 'PATH="$HOME/.local/bin:$PATH" command -v temporal']).trim(), temporalBin);
  chmodSync(temporalBin, 0o755);
  writeFileSync(join(toolDir, 'attack.mjs'), attackScript(pathToFileURL(join(repoRoot, 'node_modules/@temporalio/client/lib/index.js')).href));
  for (const path of [process.execPath, join(repoRoot, 'node_modules/@temporalio/client/lib/index.js')]) {
    const r = await asAttacker('test', ['-r', path]);
    if (r.code !== 0) throw new Error(`${path} is not readable by other accounts; put the checkout and Node where others can read them`);
  }

  // A root-only folder with a canary; the attacker cannot read it.
  secretDir = await tempDir('reprise-isolation-secret-');
  canary = `canary-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  writeFileSync(join(secretDir, 'canary.txt'), canary);
  expect((await asAttacker('cat', [join(secretDir, 'canary.txt')])).code).not.toBe(0);

  owner = new Cli(await cliEnv(await tempDir('reprise-isolation-home-')));
  const work = await tempDir('reprise-isolation-work-');
  chmodSync(work, 0o755); // the project is world-readable, as in the chain the review found
  expect((await owner.run(['init', 'p', '--name', 'p', '--base', BUSYBOX], work)).code).toBe(0);
  root = join(work, 'p');
  const started = await owner.run(['agent', 'start'], root);
  expect(started.code, started.stderr).toBe(0);
  expect(started.stdout).toContain('reachable by: only this account');
}, 180_000);

afterAll(async () => {
  await owner?.run(['agent', 'stop'], '/');
  await open?.run(['agent', 'stop'], '/');
});

describe('the local agent admits only its own account', () => {
  it('the owner runs, lists with the temporal CLI (agent env) and with the TS client; the agent reports how it is protected', async () => {
    writeFileSync(join(root, 'code/job.sh'), 'echo hello > output/hello.txt\n');
    const ran = await owner.run(['run', '--', 'sh', 'code/job.sh'], root);
    expect(ran.code, ran.stderr).toBe(0);
    const runId = git(root, 'log', '-1', '--format=%(trailers:key=Reprise-Run,valueonly)').trim();
    expect(runId).toMatch(/^run-/);

    const vars = await owner.json<Record<string, string>>(['agent', 'env'], root);
    expect(Object.keys(vars).sort()).toEqual(
      ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'TEMPORAL_TLS_SERVER_NAME'].sort(),
    );
    const listed = execFileSync(temporalBin, ['workflow', 'list', '-o', 'json'], { env: { ...process.env, ...vars }, encoding: 'utf8' });
    expect(listed).toContain(runId);

    const connection = await connectTemporal(readEnv(owner.env), 5000);
    try {
      const ids: string[] = [];
      for await (const w of new Client({ connection }).workflow.list()) ids.push(w.workflowId);
      expect(ids).toContain(runId);
    } finally {
      await connection.close();
    }

    const status = await owner.json<{ isolated: boolean; protection: string }>(['agent', 'status'], root);
    expect(status.isolated).toBe(true);
    expect(status.protection).toMatch(/^only this account: Temporal runs in a private network namespace/);
    // The key that admits a client is this account's only.
    const agentDir = join(owner.env.REPRISE_HOME!, 'agent');
    expect(statSync(agentDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(agentDir, 'tls/client.key')).mode & 0o777).toBe(0o600);
    expect((await asAttacker('cat', [join(agentDir, 'tls/client.key')])).code).not.toBe(0);
    // So is the socket the agent serves the CLI on (a run sent to it would run as the owner).
    expect(statSync(join(agentDir, 'cli.sock')).mode & 0o777).toBe(0o600);
    const sent = await asAttacker(process.execPath, ['-e', `require('net').connect(${JSON.stringify(join(agentDir, 'cli.sock'))}).on('connect', () => process.exit(0)).on('error', (e) => { console.error(e.code); process.exit(1); })`]);
    expect(sent, 'another account connecting to the CLI socket').toMatchObject({ code: 1, stderr: 'EACCES\n' });
  }, 300_000);

  it('another account can neither list, start nor signal, with the temporal CLI or the TS client, nor reach the dev server itself', async () => {
    const port = owner.env.REPRISE_TEMPORAL_PORT!;
    for (const args of [
      ['workflow', 'list'],
      ['workflow', 'list', '--tls', '--tls-disable-host-verification'],
      ['workflow', 'start', '--type', 'runProject', '--task-queue', 'reprise', '--workflow-id', 'run-mallorymallo'],
      ['workflow', 'signal', '--workflow-id', 'run-mallorymallo', '--name', 'cancel'],
    ]) {
      const r = await attackerTemporal(port, args);
      expect(r.code, `temporal ${args.join(' ')}: ${r.stdout}`).not.toBe(0);
    }
    const attempts = await attackerClient(port, 'list');
    expect(attempts.map((a) => a.mode)).toEqual(['plain', 'tls without a certificate', 'tls with its own certificate']);
    for (const a of attempts) expect(a, a.mode).toMatchObject({ ok: false });

    // The dev server listens only inside its own network namespace: nothing of it in this one.
    const relayPid = (JSON.parse(readFileSync(join(owner.env.REPRISE_HOME!, 'agent/agent.json'), 'utf8')) as { temporalPid: number }).temporalPid;
    const serverPid = sh('pgrep', ['-P', String(relayPid)]).trim();
    expect(serverPid).toMatch(/^\d+$/);
    expect(readlinkSync(`/proc/${serverPid}/ns/net`)).not.toBe(readlinkSync('/proc/self/ns/net'));
    expect(sh('ss', ['-ltnpH'])).not.toContain(`pid=${serverPid},`);
    const inside = sh('nsenter', ['-t', serverPid, '-n', 'ss', '-ltnpH']);
    expect(inside).toMatch(/127\.0\.0\.1:7233 /); // there it serves gRPC, where only the relay can reach it
  }, 300_000);

  it("the attack chain: another account starts runProject with a job linking output/ to a root-only folder; refused at connect, the canary never enters the owner's project", async () => {
    const port = owner.env.REPRISE_TEMPORAL_PORT!;
    const input = { runId: 'run-mallorymallo', projectRoot: root, backend: 'local', command: ['sh', '-c', `rm -rf output && ln -s ${secretDir} output`], resources: {} };
    const cli = await attackerTemporal(port, ['workflow', 'start', '--type', 'runProject', '--task-queue', 'reprise', '--workflow-id', input.runId, '--input', JSON.stringify(input)]);
    expect(cli.code).not.toBe(0);
    for (const a of await attackerClient(port, 'start', input)) expect(a, a.mode).toMatchObject({ ok: false });

    const connection = await connectTemporal(readEnv(owner.env), 5000);
    try {
      for await (const w of new Client({ connection }).workflow.list()) expect(w.workflowId).not.toMatch(/^run-mallory/);
    } finally {
      await connection.close();
    }
    expect(git(root, 'log', '--all', '-p', '--format=%B')).not.toContain(canary);
    expect(spawnSync('grep', ['-rlF', canary, root]).status).toBe(1); // 1: no file holds it
  }, 300_000);

  it('control: against an agent started with REPRISE_AGENT_ISOLATION=off, the same tools do reach it (so the refusals above are the isolation)', async () => {
    open = new Cli({ ...(await cliEnv(await tempDir('reprise-isolation-open-'))), REPRISE_AGENT_ISOLATION: 'off' });
    const started = await open.run(['agent', 'start'], '/');
    expect(started.code, started.stderr).toBe(0);
    expect(started.stdout).toContain('reachable by: NOT protected (REPRISE_AGENT_ISOLATION=off)');
    const port = open.env.REPRISE_TEMPORAL_PORT!;
    const r = await attackerTemporal(port, ['workflow', 'list']);
    expect(r.code, r.stderr).toBe(0);
    expect((await attackerClient(port, 'list')).find((a) => a.mode === 'plain')).toMatchObject({ ok: true });
  }, 300_000);
});
