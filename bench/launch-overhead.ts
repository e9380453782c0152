/**
 * Launch overhead: what `reprise run -- true` costs over `docker run --rm <same image> true`.
 *
 * With the agent and the image warm, runs both N times INTERLEAVED in this one process
 * (reprise, docker, reprise --version, reprise, docker, …) so that load from other work on the
 * machine hits all of them alike, and prints medians, p90s, the ratio reprise/docker, the
 * absolute median difference, and the bare CLI start-up (`bin/run.js --version`).
 *
 * Everything is throwaway: its own REPRISE_HOME, its own project, its own embedded Temporal on
 * free ports (headless), stopped at the end. It never touches ~/.reprise or another agent.
 *
 *   node --import tsx bench/launch-overhead.ts [--runs 20] [--port 17433] [--target 1.0] [--keep] [--json]
 *
 * Needs a build (`npm run build`) and a Docker engine (`bash scripts/docker-up.sh`).
 * Exit code: 0 when it measured (whether the target is met or missed: see PASS/MISS),
 * 1 when it could not measure (setup or a run failed), 2 on bad arguments.
 */
import { existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { binRun, closeSandbox, fmt, interrupt, log, mustExec, openSandbox, printAgentLogs, repoRoot, stats, UsageError, wasInterrupted, type Sandbox, type Stats } from './lib.js';
const BASE_IMAGE = 'local/debian-python:bookworm';

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        runs: { type: 'string', default: '20' },
        port: { type: 'string' },
        target: { type: 'string', default: '1.0' },
        keep: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const o = parsed.values;
  if (o.help) {
    process.stdout.write('usage: node --import tsx bench/launch-overhead.ts [--runs 20] [--port 17433] [--target 1.0] [--keep] [--json]\n');
    return 0;
  }
  const runs = Number(o.runs);
  const target = Number(o.target);
  if (!Number.isInteger(runs) || runs < 1 || !(target > 0)) {
    process.stderr.write('--runs must be a positive integer and --target a positive number of seconds\n');
    return 2;
  }
  if (!existsSync(join(repoRoot, 'dist', 'cli', 'commands', 'run.js'))) {
    process.stderr.write(`no build found in ${join(repoRoot, 'dist')}; run: npm run build\n`);
    return 1;
  }

  let sb: Sandbox;
  try {
    sb = await openSandbox('project', o.port === undefined ? undefined : Number(o.port));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
  const { home, env, port } = sb;
  const project = join(sb.work, 'bench');
  const onSignal = () => {
    interrupt();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let failed = false;
  try {
    log(`REPRISE_HOME=${home}  project=${project}  embedded Temporal on 127.0.0.1:${port} (headless)`);
    await mustExec('docker info', 'docker', ['info', '--format', '{{.ServerVersion}}'], { env });
    await mustExec('base image check', 'docker', ['image', 'inspect', '--format', '{{.Id}}', BASE_IMAGE], { env }).catch((err: Error) => {
      throw new Error(`${err.message}\nthe base image is missing; run: bash scripts/docker-up.sh`);
    });
    await mustExec('init', process.execPath, [binRun, 'init', project, '--name', 'bench', '--base', BASE_IMAGE], { env });

    log('warm-up: first run (starts the agent, builds the image)…');
    const warm = await mustExec('warm-up run', process.execPath, [binRun, 'run', '--json', '--', 'true'], { cwd: project, env });
    const runId = (JSON.parse(warm.stdout) as { runId: string }).runId;
    const shown = await mustExec('show', process.execPath, [binRun, 'show', runId, '--json'], { cwd: project, env });
    const image = (JSON.parse(shown.stdout) as { image: { digest: string; tag?: string } }).image;
    log(`warm-up ${runId} took ${fmt(warm.seconds)}; image ${image.tag ?? '(no tag)'} ${image.digest}`);
    // docker runs the very image the run recorded (by digest, i.e. the local image id).
    const dockerImage = image.digest;
    await mustExec('docker warm-up', 'docker', ['run', '--rm', dockerImage, 'true'], { env });
    await mustExec('--version warm-up', process.execPath, [binRun, '--version'], { env });

    const loadBefore = loadavg()[0]!;
    const t: Record<'reprise' | 'docker' | 'version', number[]> = { reprise: [], docker: [], version: [] };
    for (let i = 1; i <= runs; i++) {
      t.reprise.push((await mustExec(`reprise run #${i}`, process.execPath, [binRun, 'run', '--', 'true'], { cwd: project, env })).seconds);
      t.docker.push((await mustExec(`docker run #${i}`, 'docker', ['run', '--rm', dockerImage, 'true'], { env })).seconds);
      t.version.push((await mustExec(`--version #${i}`, process.execPath, [binRun, '--version'], { env })).seconds);
      log(`${String(i).padStart(2)}/${runs}  reprise ${fmt(t.reprise.at(-1)!)}  docker ${fmt(t.docker.at(-1)!)}  --version ${fmt(t.version.at(-1)!)}`);
    }

    const loadAfter = loadavg()[0]!;
    const machine = `${availableParallelism()} CPUs, 1-min load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after`;
    const r = stats(t.reprise);
    const d = stats(t.docker);
    const v = stats(t.version);
    const ratio = r.median / d.median;
    const diff = r.median - d.median;
    const pass = diff <= target;
    const result = {
      runs,
      image: { tag: image.tag, digest: image.digest },
      warmUpSeconds: warm.seconds,
      machine,
      reprise: r,
      docker: d,
      cliStartup: v,
      ratioMedian: ratio,
      ratioP90: r.p90 / d.p90,
      diffMedianSeconds: diff,
      diffP90Seconds: r.p90 - d.p90,
      beyondStartupSeconds: diff - v.median,
      targetSeconds: target,
      verdict: pass ? 'PASS' : 'MISS',
      samples: t,
    };
    if (o.json) {
      process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    } else {
      const row = (name: string, s: Stats) =>
        `${name.padEnd(34)}${fmt(s.median).padStart(10)}${fmt(s.p90).padStart(10)}${fmt(s.min).padStart(10)}${fmt(s.max).padStart(10)}`;
      const lines = [
        '',
        `Reprise launch overhead: ${runs} interleaved runs each, agent and image warm`,
        `image: ${image.tag ?? ''} ${image.digest}`,
        `machine: ${machine}`,
        '',
        `${''.padEnd(34)}${'median'.padStart(10)}${'p90'.padStart(10)}${'min'.padStart(10)}${'max'.padStart(10)}`,
        row('reprise run -- true', r),
        row('docker run --rm <image> true', d),
        row('reprise --version (CLI start-up)', v),
        '',
        `ratio reprise/docker        median ${ratio.toFixed(2)}x   p90 ${(r.p90 / d.p90).toFixed(2)}x`,
        `difference reprise-docker   median ${diff >= 0 ? '+' : ''}${fmt(diff)}   p90 ${r.p90 - d.p90 >= 0 ? '+' : ''}${fmt(r.p90 - d.p90)}`,
        `  of which CLI start-up     ${fmt(v.median)} (Node + oclif, --version median)`,
        `  the rest                  ${fmt(diff - v.median)} (agent check, workflow, snapshot/record commits, log streaming)`,
        '',
        `target: reprise adds at most ${fmt(target)} at the median -> ${pass ? 'PASS' : 'MISS'} (${diff >= 0 ? '+' : ''}${fmt(diff)})`,
        '',
      ];
      process.stdout.write(lines.join('\n'));
    }
  } catch (err) {
    failed = true;
    process.stderr.write(`[bench] ERROR: ${(err as Error).message}\n`);
    await printAgentLogs(sb);
  } finally {
    if (!(await closeSandbox(sb, o.keep || failed))) failed = true;
  }
  return failed || wasInterrupted() ? 1 : 0;
}

process.exitCode = await main();
