/**
 * Team mode: submit-to-first-output-line latency from a second account, and the overhead of a
 * team-mode run over a single-machine run of the same job.
 *
 * Alice (Unix account reprise-alice) runs `sh -c 'echo ready; sleep 2; echo done'` on the local
 * Docker backend, interleaved N times each way in this one process:
 *  - single machine: her own agent (embedded Temporal, worker in her account);
 *  - team mode: REPRISE_TEAM=1 through a `reprise worker --backends local` of another account
 *    (reprise-worker), the project through a git daemon, the image through a registry.
 * Timed from spawn: the first byte on stdout (the job's "ready"), and exit. Prints medians, p90s
 * and the ratios team/single.
 *
 *   node --import tsx bench/team-overhead.ts [--runs 10] [--json]
 *
 * Needs root (it makes the accounts), a build and Docker. Exit 0 when it measured, 1 when not.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../test/helpers/cli.js';
import { startRegistry } from '../test/helpers/registry.js';
import { chmodSync } from 'node:fs';
import { findTemporalBinary } from '../src/client/temporal-cli.js';
import { account, copyOwned, GitServer, personEnv, TeamTemporal, TeamWorker, UserCli, writeOwned } from '../test/helpers/team.js';
import { fmt, log, stats } from './lib.js';

const JOB = ['sh', '-c', 'echo ready; sleep 2; echo done'];

/** Spawn the CLI as the account; seconds to the first stdout byte and to exit. */
function timedRun(cli: UserCli, cwd: string): Promise<{ first: number; total: number; code: number | null; stderr: string }> {
  const t0 = performance.now();
  const child = cli.spawn(['run', '--', ...JOB], cwd);
  let first = NaN;
  let stderr = '';
  child.stdout!.on('data', () => {
    if (Number.isNaN(first)) first = (performance.now() - t0) / 1000;
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ first, total: (performance.now() - t0) / 1000, code, stderr })));
}

async function main(): Promise<number> {
  const { values: o } = parseArgs({ options: { runs: { type: 'string', default: '10' }, json: { type: 'boolean', default: false } } });
  const runs = Number(o.runs);
  const suite = randomBytes(3).toString('hex');
  const temporal = await TeamTemporal.start();
  const git = await GitServer.start(account('reprise-git'));
  const registry = await startRegistry();
  const workers: TeamWorker[] = [];
  let single: UserCli | undefined;
  try {
    await git.create(`bench-${suite}`);
    const alice = account('reprise-alice', ['docker']);
    const workerAccount = account('reprise-worker', ['docker']); // the local backend is Docker
    writeOwned(alice, '.docker/config.json', JSON.stringify({ auths: { [registry.url]: { auth: Buffer.from(`${registry.user}:${registry.password}`).toString('base64') } } }));
    // Her own agent needs the Temporal CLI in her account (root's pip install is not hers to run).
    copyOwned(alice, findTemporalBinary(), '.local/bin/temporal');
    chmodSync(join(alice.home, '.local/bin/temporal'), 0o755);
    const team = new UserCli(alice, personEnv(alice, temporal, { REPRISE_TEAM: '1' }));
    const aliceHome = personEnv(alice, temporal);
    delete aliceHome.TEMPORAL_ADDRESS;
    single = new UserCli(alice, { ...aliceHome, REPRISE_TEMPORAL_PORT: String(await freePort()), REPRISE_TEMPORAL_UI_PORT: '0' });
    workers.push(await TeamWorker.start(workerAccount, personEnv(workerAccount, temporal), ['local'], 'bench-worker'));

    const project = join(alice.home, `bench-${suite}`);
    const must = async (cli: UserCli, args: string[], cwd = project) => {
      const r = await cli.run(args, cwd);
      if (r.code !== 0) throw new Error(`reprise ${args.join(' ')}: ${r.stderr}`);
    };
    await must(team, ['init', project, '--name', 'bench', '--base', 'local/busybox:latest'], alice.home);
    await must(team, ['remote', 'add', 'origin', git.url(`bench-${suite}`)]);
    await must(team, ['registry', 'set', `${registry.url}/bench`]);
    log('warm-up: one run each way (agent start, image build and push)');
    for (const cli of [single, team]) {
      const r = await timedRun(cli, project);
      if (r.code !== 0) throw new Error(`warm-up failed: ${r.stderr}`);
    }
    const t = { single: { first: [] as number[], total: [] as number[] }, team: { first: [] as number[], total: [] as number[] } };
    for (let i = 1; i <= runs; i++) {
      for (const [name, cli] of [['single', single], ['team', team]] as const) {
        const r = await timedRun(cli, project);
        if (r.code !== 0) throw new Error(`${name} run #${i} failed: ${r.stderr}`);
        t[name].first.push(r.first);
        t[name].total.push(r.total);
      }
      log(`${i}/${runs}  single ${fmt(t.single.total.at(-1)!)} (first line ${fmt(t.single.first.at(-1)!)})  team ${fmt(t.team.total.at(-1)!)} (first line ${fmt(t.team.first.at(-1)!)})`);
    }
    const s = { first: stats(t.single.first), total: stats(t.single.total) };
    const m = { first: stats(t.team.first), total: stats(t.team.total) };
    const result = { runs, job: JOB, single: s, team: m, ratioTotal: m.total.median / s.total.median, ratioFirstLine: m.first.median / s.first.median, samples: t };
    if (o.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else {
      const row = (label: string, a: ReturnType<typeof stats>, b: ReturnType<typeof stats>) =>
        `${label.padEnd(34)} ${fmt(a.median).padStart(9)} ${fmt(a.p90).padStart(9)}   ${fmt(b.median).padStart(9)} ${fmt(b.p90).padStart(9)}   ${(b.median / a.median).toFixed(2)}×`;
      process.stdout.write(`${runs} runs each of ${JOB.join(' ')}, local Docker backend\n`);
      process.stdout.write(`${''.padEnd(34)} ${'single median'.padStart(9)} ${'p90'.padStart(9)}   ${'team median'.padStart(9)} ${'p90'.padStart(9)}   ratio\n`);
      process.stdout.write(row('submit → first output line', s.first, m.first) + '\n');
      process.stdout.write(row('submit → recorded (exit)', s.total, m.total) + '\n');
    }
    return 0;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    if (single) await single.run(['agent', 'stop']);
    temporal.stop();
    git.stop();
    await registry.stop();
  }
}

process.exitCode = await main();
