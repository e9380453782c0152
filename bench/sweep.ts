/**
 * Sweeps against the plain tool, side by side in one process:
 *  - docker: `reprise sweep` of N points of a trivial command at --max-parallel P on local
 *    Docker, against N plain `docker run --rm` of the same image at the same parallelism
 *    (`xargs -P P`). Both wall-clock, both start from a warm image.
 *  - slurm (with --slurm, the test cluster up): an N-element `reprise sweep --array` (one sbatch)
 *    against the same N points submitted one by one (`reprise sweep` without --array).
 *
 *   node --import tsx bench/sweep.ts [--points 100] [--parallel 4] [--slurm] [--json]
 *
 * A throwaway REPRISE_HOME and project, an embedded Temporal on a free port; the agent is stopped
 * and the directories removed at the end. Exit 0 when it measured, 1 when it could not.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clusterConfig, slurmAddArgs } from '../test/integration/slurm/slurm-backend-env.js';
import { anyFreePort, binRun, exec, fmt, log, mustExec } from './lib.js';

const BASE_IMAGE = 'local/busybox:latest';

async function main(): Promise<number> {
  const { values: o } = parseArgs({
    options: {
      points: { type: 'string', default: '100' },
      parallel: { type: 'string', default: '4' },
      slurm: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const points = Number(o.points);
  const parallel = Number(o.parallel);
  const home = await mkdtemp(join(tmpdir(), 'reprise-bench-home-'));
  const work = await mkdtemp(join(tmpdir(), 'reprise-bench-sweep-'));
  const project = join(work, 'sweep');
  const env: NodeJS.ProcessEnv = { ...process.env, REPRISE_HOME: home, REPRISE_TEMPORAL_PORT: String(await anyFreePort()), REPRISE_TEMPORAL_UI_PORT: '0' };
  delete env.TEMPORAL_ADDRESS;
  const cli = (what: string, args: string[]) => mustExec(what, process.execPath, [binRun, ...args], { cwd: project, env });
  const result: Record<string, unknown> = { points, parallel };
  // On the cluster: this sweep's images, runs and arrays; removed at the end.
  const slurmWorkdir = `reprise-bench/sweep-${process.pid}`;
  try {
    await mustExec('init', process.execPath, [binRun, 'init', project, '--name', 'sweep', '--base', BASE_IMAGE], { env });
    log('warm-up: one run (starts the agent, builds the image)…');
    const warm = JSON.parse((await cli('warm-up', ['run', '--json', '--', 'true'])).stdout) as { runId: string };
    const image = (JSON.parse((await cli('show', ['show', warm.runId, '--json'])).stdout) as { image: { digest: string } }).image.digest;
    const loadBefore = loadavg()[0]!;

    log(`docker: ${points} × docker run --rm at -P ${parallel}…`);
    const plain = await mustExec('xargs docker run', 'sh', ['-c', `seq 1 ${points} | xargs -P ${parallel} -I N docker run --rm ${image} sh -c 'echo N'`], { env });
    log(`docker: reprise sweep of ${points} points at --max-parallel ${parallel}…`);
    const sweep = await cli('reprise sweep', ['sweep', '--max-parallel', String(parallel), '--param', `n=1..${points}`, '--', 'sh', '-c', 'echo {n}']);
    result.docker = { plainSeconds: plain.seconds, repriseSeconds: sweep.seconds, ratio: sweep.seconds / plain.seconds, pointsPerSecond: points / sweep.seconds };

    if (o.slurm) {
      await cli('backend add', ['backend', 'add', ...slurmAddArgs('hpc', `~/${slurmWorkdir}`)]);
      log(`slurm: ${points}-element array (one sbatch)…`);
      const array = await cli('array sweep', ['sweep', '--on', 'hpc', '--array', '--param', `n=1..${points}`, '--', 'sh', '-c', 'echo {n}']);
      log(`slurm: ${points} separate submissions…`);
      const separate = await cli('separate sweep', ['sweep', '--on', 'hpc', '--param', `n=1..${points}`, '--', 'sh', '-c', 'echo {n}']);
      result.slurm = { arraySeconds: array.seconds, separateSeconds: separate.seconds, ratio: array.seconds / separate.seconds };
    }
    result.machine = `${availableParallelism()} CPUs, 1-min load ${loadBefore.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after`;
    if (o.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else {
      const d = result.docker as { plainSeconds: number; repriseSeconds: number; ratio: number; pointsPerSecond: number };
      const lines = [
        '',
        `Sweeps: ${points} points of a trivial command (${result.machine as string})`,
        `  docker run --rm × ${points}, xargs -P ${parallel}        ${fmt(d.plainSeconds).padStart(10)}`,
        `  reprise sweep --max-parallel ${parallel} (recorded)    ${fmt(d.repriseSeconds).padStart(10)}   ratio ${d.ratio.toFixed(2)}x, ${d.pointsPerSecond.toFixed(2)} points/s`,
      ];
      if (result.slurm) {
        const s = result.slurm as { arraySeconds: number; separateSeconds: number; ratio: number };
        lines.push(`  slurm: ${points} separate sbatch (reprise sweep)   ${fmt(s.separateSeconds).padStart(10)}`);
        lines.push(`  slurm: one ${points}-element array (--array)      ${fmt(s.arraySeconds).padStart(10)}   ratio array/separate ${s.ratio.toFixed(2)}x`);
      }
      process.stdout.write(lines.join('\n') + '\n\n');
    }
    return 0;
  } catch (err) {
    process.stderr.write(`bench failed: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await exec(process.execPath, [binRun, 'agent', 'stop'], { cwd: project, env }).catch(() => undefined);
    if (o.slurm) {
      const c = clusterConfig('~');
      await exec('ssh', ['-F', '/dev/null', '-p', String(c.port), '-i', c.identityFile, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${c.knownHostsFile}`,
        `${c.user}@${c.host}`, `rm -rf ~/${slurmWorkdir}; rmdir ~/reprise-bench 2>/dev/null; true`], { env }).catch(() => undefined);
    }
    await rm(home, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  }
}

process.exitCode = await main();
