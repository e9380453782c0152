// The local agent serves the CLI over a socket only its owner can open (client/agent-socket.ts,
// worker/cli-socket.ts): a run started, followed and cancelled through it by a CLI that reaches
// no Temporal at all (its Temporal port is one where nothing answers); the agent's worker killed
// while a run is followed: the CLI carries on through Temporal once the agent is back, and the run
// is recorded once; with REPRISE_AGENT_SOCKET=off the CLI goes through Temporal as before.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cli, freePort } from '../helpers/cli.js';
import { useCliProject } from '../helpers/cli-project.js';
import { waitFor } from '../helpers/lab.js';
import { git } from '../helpers/project.js';
import { alive } from '../../src/client/agent.js';

const p = useCliProject('agent-socket');
const agentDir = () => join(p.cli.env.REPRISE_HOME!, 'agent');
const records = () => git(p.root, 'log', '--format=%(trailers:key=Reprise-Run,valueonly)').split('\n').filter(Boolean);

/** The CLI of this suite with a Temporal port where nothing listens: only the socket can serve it. */
async function cutOffCli(): Promise<Cli> {
  return new Cli({ ...p.cli.env, REPRISE_TEMPORAL_PORT: String(await freePort()) });
}

describe('the agent serves the CLI over a socket', () => {
  it('is served once the agent runs: in the agent directory (0700), itself 0600', async () => {
    const first = await p.cli.run(['run', '--', 'true'], p.root);
    expect(first.code, first.stderr).toBe(0);
    expect(statSync(agentDir()).mode & 0o777).toBe(0o700);
    const sock = statSync(join(agentDir(), 'cli.sock'));
    expect(sock.isSocket()).toBe(true);
    expect(sock.mode & 0o777).toBe(0o600);
  });

  it('a run through it needs no Temporal connection: output streamed, exit code and record as through Temporal', async () => {
    const cli = await cutOffCli();
    const r = await cli.run(['run', '--', 'sh', '-c', 'echo through the socket; echo kept > output/kept.txt; exit 3'], p.root);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toBe('through the socket\n');
    const runId = /run (run-[a-z2-7]{12}) failed, exit code 3/.exec(r.stderr)?.[1];
    expect(runId, r.stderr).toBeDefined();
    expect(records()[0]).toBe(runId);
    expect(readFileSync(join(p.root, 'output/kept.txt'), 'utf8')).toBe('kept\n');
    // --json as well.
    const json = await cli.run(['run', '--json', '--', 'true'], p.root);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ state: 'succeeded', exitCode: 0 });
  });

  it('Ctrl-C cancels through it: recorded as cancelled, exit 130', async () => {
    const cli = await cutOffCli();
    const child = cli.spawn(['run', '--', 'sh', '-c', 'echo started; sleep 60'], p.root);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d));
    await waitFor('the job started', () => out.includes('started'));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, err).toBe(130);
    expect(err).toMatch(/run run-[a-z2-7]{12} cancelled, exit code 130/);
  }, 120_000);

  it("the agent's worker killed while a run is followed: the CLI carries on through Temporal once the agent is back; one record", async () => {
    const before = records().length;
    const child = p.cli.spawn(['run', '--', 'sh', '-c', 'echo begun; sleep 5; echo done > output/done.txt; echo ended'], p.root);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d));
    await waitFor('the job started', () => out.includes('begun'));
    const { workerPid } = JSON.parse(readFileSync(join(agentDir(), 'agent.json'), 'utf8')) as { workerPid: number };
    process.kill(workerPid, 'SIGKILL');
    await waitFor('the worker gone', () => !alive(workerPid));
    const restarted = await p.cli.run(['agent', 'start'], p.root);
    expect(restarted.code, restarted.stderr).toBe(0);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, err).toBe(0);
    expect(err).toMatch(/run run-[a-z2-7]{12} succeeded, exit code 0/);
    expect(readFileSync(join(p.root, 'output/done.txt'), 'utf8')).toBe('done\n');
    expect(records().length).toBe(before + 1);
  }, 300_000);

  it('REPRISE_AGENT_SOCKET=off: the CLI goes through Temporal', async () => {
    const off = new Cli({ ...p.cli.env, REPRISE_AGENT_SOCKET: 'off' });
    const r = await off.run(['run', '--', 'sh', '-c', 'echo through temporal'], p.root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('through temporal\n');
  }, 120_000);
});
