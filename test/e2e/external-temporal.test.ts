import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Cli, cliEnv, freePort } from '../helpers/cli.js';
import { tempDir } from '../helpers/project.js';
import { BUSYBOX, requireDocker } from '../helpers/docker.js';
import { findTemporalBinary } from '../../src/client/temporal-cli.js';

let server: ChildProcess;
let worker: ChildProcess;
let cli: Cli;
let work: string;

async function waitForOutput(child: ChildProcess, pattern: RegExp): Promise<void> {
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      seen += d;
      if (pattern.test(seen)) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => reject(new Error(`exited early (${code}): ${seen}`)));
  });
}

beforeAll(async () => {
  requireDocker();
  const port = await freePort();
  server = spawn(findTemporalBinary(), ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--headless', '--log-level', 'error'], { stdio: 'ignore' });
  const home = await tempDir('reprise-ext-home-');
  work = await tempDir('reprise-ext-');
  cli = new Cli({ ...(await cliEnv(home)), TEMPORAL_ADDRESS: `127.0.0.1:${port}`, REPRISE_TASK_QUEUE: 'e2e-external', LOG_LEVEL: 'info', LOG_FORMAT: 'json' });
  for (let i = 0; i < 60; i++) {
    if ((await cli.run(['agent', 'status'], work)).stdout.includes('temporal: up')) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  worker = cli.spawn(['worker'], work);
  await waitForOutput(worker, /worker started/);
});

afterAll(() => {
  worker?.kill('SIGTERM');
  server?.kill('SIGTERM');
});

describe('TEMPORAL_ADDRESS and `reprise worker`', () => {
  it('runs through the given server and the foreground worker; no embedded server is started', async () => {
    expect((await cli.run(['init', 'ext', '--name', 'ext', '--base', BUSYBOX], work)).code).toBe(0);
    const root = join(work, 'ext');
    const r = await cli.run(['run', '--', 'echo', 'via external temporal'], root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('via external temporal\n');
    const status = await cli.json<{ embedded: boolean; temporalUp: boolean; workerPollers: number; temporalPid?: number }>(['agent', 'status'], root);
    expect(status).toMatchObject({ embedded: false, temporalUp: true });
    expect(status.workerPollers).toBeGreaterThan(0);
    expect(status.temporalPid).toBeUndefined();
  });

  it('an unreachable TEMPORAL_ADDRESS is exit 3 with the fix', async () => {
    const bad = new Cli({ ...cli.env, TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` });
    expect((await bad.run(['init', 'ext2', '--name', 'ext2', '--base', BUSYBOX], work)).code).toBe(0);
    const r = await bad.run(['run', '--', 'true'], join(work, 'ext2'));
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^Error: cannot reach the Temporal server at 127\.0\.0\.1:\d+ \(TEMPORAL_ADDRESS\); start it or fix TEMPORAL_ADDRESS\n$/);
    const w = await bad.run(['worker'], work);
    expect(w.code).toBe(3);
    expect(w.stderr).toMatch(/^Error: cannot reach the Temporal server at 127\.0\.0\.1:\d+; start it \(reprise agent start\) or fix TEMPORAL_ADDRESS and its TLS settings\n$/);
  });

  it("bad TLS settings for TEMPORAL_ADDRESS (Temporal's own variables) are exit 2, one line naming the variable, before connecting", async () => {
    const root = join(work, 'ext');
    const missing = join(work, 'no-such.crt');
    const cases: [Record<string, string>, string][] = [
      [{ TEMPORAL_TLS_SERVER_CA_CERT_PATH: missing }, `Error: TEMPORAL_TLS_SERVER_CA_CERT_PATH: ${missing} does not exist; fix the path\n`],
      [{ TEMPORAL_TLS_CLIENT_CERT_PATH: join(root, '.reprise/project.yaml') }, `Error: TEMPORAL_TLS_CLIENT_CERT_PATH (${join(root, '.reprise/project.yaml')}) is set but not the client key; set TEMPORAL_TLS_CLIENT_KEY_PATH (or temporal.tls.clientKeyPath in config.yaml)\n`],
      [{ TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(root, '.reprise/project.yaml') }, `Error: TEMPORAL_TLS_SERVER_CA_CERT_PATH (${join(root, '.reprise/project.yaml')}) is not a PEM certificate; point it at the certificate file (-----BEGIN CERTIFICATE-----)\n`],
    ];
    for (const [vars, message] of cases) {
      const bad = new Cli({ ...cli.env, ...vars });
      for (const args of [['run', '--', 'true'], ['worker'], ['agent', 'status'], ['agent', 'env']]) {
        const r = await bad.run(args, root);
        expect(r.code, `${args.join(' ')} ${JSON.stringify(vars)}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toBe(message);
      }
    }
  });
});
