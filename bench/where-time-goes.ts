/**
 * Where the time of a warm `reprise run -- true` goes, measured: the CLI's wall time split into
 * before the workflow starts (process start, imports, agent check, workflow start), the workflow
 * itself (each activity and local activity from the Temporal history, and the workflow-task
 * round trips between them) and after it completes (result, exit).
 *
 *   node --import tsx bench/where-time-goes.ts [--on docker|slurm|kubernetes] [--runs 5] [--reuse] [--data-files N] [--command 'sleep 1.3'] [--keep]
 *
 * With --command, the timed runs run that shell command instead of `true`: a job that lasts, to
 * see how late its end is noticed (the warm-up still runs `true`).
 * With --data-files N, the project tracks a folder of N files of 4 KiB (`data add input/many`)
 * before the warm-up: what each step pays for tracked data the job does not even read.
 * With --reuse, every timed run is `run --reuse` of the warm-up run: the path of a run found done.
 *
 * Its own sandbox (REPRISE_HOME, embedded Temporal on a free port), like bench/table.ts; the
 * clusters' settings come from test/infra/.state/<cluster>.env.
 */
import { WorkflowClient } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { anyFreePort, binRun, closeSandbox, log, mustExec, openSandbox, repoRoot, sandboxConnection, stats } from './lib.js';
import { startTimes, timeline, type Step } from './run-timeline.js';

function clusterEnv(cluster: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of readFileSync(join(repoRoot, 'test/infra/.state', `${cluster}.env`), 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) vars[m[1]!] = m[2]!;
  }
  return vars;
}

/** Seconds per span of one run: each (local) activity, the rest of the workflow, before and after it. */
function spans(steps: Step[], spawn: number, exit: number, start: number): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (k: string, v: number) => (out[k] = (out[k] ?? 0) + v);
  const end = steps.at(-1)!.at;
  let prev = 0;
  const scheduled = new Map<string, number>();
  let inActivities = 0;
  for (const s of steps) {
    const local = /^local activity (\S+) completed/.exec(s.what);
    if (local) {
      add(`local ${local[1]}`, s.at - prev);
      inActivities += s.at - prev;
    }
    const sch = /^ActivityTaskScheduled (\S+)/.exec(s.what);
    if (sch) scheduled.set(sch[1]!, s.at);
    const done = /^ActivityTask(?:Completed|Failed) (\S+)/.exec(s.what);
    if (done && scheduled.has(done[1]!)) {
      add(`activity ${done[1]}`, s.at - scheduled.get(done[1]!)!);
      inActivities += s.at - scheduled.get(done[1]!)!;
    }
    prev = s.at;
  }
  out['workflow tasks and round trips (rest of the workflow)'] = end - inActivities;
  out['CLI: spawn → workflow started'] = start - spawn;
  out['CLI: workflow completed → exit'] = exit - (start + end);
  out['total (CLI wall time)'] = exit - spawn;
  return out;
}

async function main(): Promise<number> {
  const { values: o } = parseArgs({ options: { on: { type: 'string', default: 'docker' }, runs: { type: 'string', default: '5' }, keep: { type: 'boolean', default: false }, reuse: { type: 'boolean', default: false }, 'data-files': { type: 'string', default: '0' }, command: { type: 'string' } } });
  const command = o.command ? ['sh', '-c', o.command] : ['true'];
  const runs = Number(o.runs);
  const sb = await openSandbox('where', await anyFreePort());
  const env = sb.env;
  const cli = (what: string, args: string[], cwd?: string) => mustExec(what, process.execPath, [binRun, ...args], { cwd, env });
  let ok = true;
  try {
    const base = o.on === 'docker' ? 'local/debian-python:bookworm' : 'local/busybox:latest';
    const root = join(sb.work, 'p');
    await cli('init', ['init', root, '--name', 'where', '--base', base]);
    const on: string[] = [];
    if (o.on === 'slurm') {
      const c = clusterEnv('slurm');
      await cli('backend add', ['backend', 'add', 'hpc', '--kind', 'slurm', '--host', c.SLURM_SSH_HOST!, '--port', c.SLURM_SSH_PORT!, '--user', c.SLURM_SSH_USER!,
        '--identity-file', c.SLURM_SSH_IDENTITY!, '--known-hosts-file', c.SLURM_SSH_KNOWN_HOSTS!, '--partition', c.SLURM_PARTITION!, '--workdir', `~/reprise-bench/where-${process.pid}`]);
      on.push('--on', 'hpc');
    } else if (o.on === 'kubernetes') {
      const c = clusterEnv('kubernetes');
      await cli('backend add', ['backend', 'add', 'k8s', '--kind', 'kubernetes', '--kubeconfig', c.KUBECONFIG!, '--context', c.K8S_CONTEXT!, '--namespace', c.K8S_NAMESPACE!,
        '--registry', `${c.K8S_REGISTRY}/reprise-bench`]);
      on.push('--on', 'k8s');
    }
    const dataFiles = Number(o['data-files']);
    if (dataFiles > 0) {
      for (let d = 0; d * 200 < dataFiles; d++) {
        const dir = join(root, 'input/many', `d${d}`);
        await mkdir(dir, { recursive: true });
        await Promise.all(Array.from({ length: Math.min(200, dataFiles - d * 200) }, (_, i) => writeFile(join(dir, `f${i}`), randomBytes(4096))));
      }
      await cli('data add', ['data', 'add', 'input/many'], root);
    }
    await cli('warm-up', ['run', ...on, '--', 'true'], root);
    const timed: { runId: string; spawn: number; exit: number }[] = [];
    for (let i = 1; i <= runs; i++) {
      const spawn = Date.now() / 1000;
      const r = await cli(`run #${i}`, ['run', ...on, ...(o.reuse ? ['--reuse'] : []), '--json', '--', ...command], root);
      const exit = Date.now() / 1000;
      timed.push({ runId: (JSON.parse(r.stdout) as { runId: string }).runId, spawn, exit });
      log(`run #${i} ${(exit - spawn).toFixed(3)} s`);
    }
    const connection = await sandboxConnection(sb);
    const per: Record<string, number[]> = {};
    try {
      const client = new WorkflowClient({ connection, namespace: 'default' });
      for (const t of timed) {
        const steps = await timeline(client, t.runId);
        for (const [k, v] of Object.entries(spans(steps, t.spawn, t.exit, startTimes.get(t.runId)!))) (per[k] ??= []).push(v);
      }
    } finally {
      await connection.close();
    }
    const ver = [];
    for (let i = 0; i < runs; i++) ver.push((await cli('--version', ['--version'])).seconds);
    per['(for comparison) reprise --version'] = ver;
    process.stdout.write(`\nwhere a warm${dataFiles > 0 ? ` (${dataFiles} tracked files)` : ''} \`reprise run ${[...on, ...(o.reuse ? ['--reuse'] : []), '--json', '--', ...command].join(' ')}\` spends its time, ${runs} runs (median, min–max):\n`);
    for (const [k, xs] of Object.entries(per)) {
      const s = stats(xs);
      process.stdout.write(`  ${k.padEnd(56)} ${(s.median * 1000).toFixed(0).padStart(6)} ms  (${(s.min * 1000).toFixed(0)}–${(s.max * 1000).toFixed(0)})\n`);
    }
  } catch (err) {
    ok = false;
    process.stderr.write(`failed: ${(err as Error).message}\n`);
  } finally {
    if (o.on === 'slurm') {
      const c = clusterEnv('slurm');
      await mustExec('ssh rm', 'ssh', ['-F', '/dev/null', '-p', c.SLURM_SSH_PORT!, '-i', c.SLURM_SSH_IDENTITY!, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
        '-o', `UserKnownHostsFile=${c.SLURM_SSH_KNOWN_HOSTS}`, `${c.SLURM_SSH_USER}@${c.SLURM_SSH_HOST}`, `rm -rf ~/reprise-bench/where-${process.pid}`], { env }).catch(() => undefined);
    }
    await closeSandbox(sb, o.keep || !ok);
  }
  return ok ? 0 : 1;
}

process.exitCode = await main();
