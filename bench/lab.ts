/**
 * The lab's benchmark: time from `reprise lab` to a kernel that answers, per backend, next to the
 * same JupyterLab started by hand, measured the same way, side by side in this one process.
 *
 * One measure for both: t=0 at the spawn of the first command; wait until Jupyter answers
 * (Reprise: its `--json` ready line; by hand: GET /api/status through the user's own tunnel, polled
 * every 250 ms); POST /api/kernels and execute `1+1` over the kernel websocket (test/helpers'
 * JupyterClient); the clock stops when the execute reply (and idle) arrives.
 *
 *   by hand, Docker      docker run -d --rm -p 127.0.0.1:P:8888 -e REPRISE_LAB_PORT=8888 -e REPRISE_LAB_TOKEN=… <lab image> python3 /opt/reprise-lab/start.py
 *   by hand, SLURM       one ssh to the login node: sbatch --wrap 'ch-run --set-env -b DIR:/project <image dir> -- python3 …/start.py',
 *                        wait in that same shell until squeue says RUNNING and print the node; then ssh -N -L P:<node>:<port> login
 *   by hand, Kubernetes  kubectl run POD --image <registry ref of the lab image> --env … --command -- python3 …/start.py;
 *                        kubectl wait --for=condition=Ready; kubectl port-forward pod/POD P:8888
 *
 * The only Reprise knowledge on the by-hand path is where the lab image is (`reprise show LAB --json`:
 * the lab image's id → Docker tag, the SLURM image directory `<workdir>/images/<id hex>`, the
 * registry reference). Warm figures: a warm-up lab per backend builds/stages/pushes the images
 * and one by-hand start warms its path; then --runs rounds, Reprise and by-hand interleaved.
 * Where Reprise's time goes is read from each lab's Temporal history (the activities' times).
 *
 *   node --import tsx bench/lab.ts [--runs 3] [--backends local,hpc,k8s] [--json] [--keep]
 *
 * Needs `npm run build`, Docker with local/debian-python:bookworm, and for hpc/k8s the test
 * clusters (test/infra/.state). Exit 0 when it measured, 1 when it could not.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Connection, WorkflowClient } from '@temporalio/client';
import { JupyterClient } from '../test/helpers/jupyter-client.js';
import { anyFreePort, binRun, closeSandbox, exec, interrupt, load1, log, mustExec, openSandbox, printAgentLogs, repoRoot, sandboxConnection, stats, type Sandbox } from './lib.js';

const BASE_IMAGE = 'local/debian-python:bookworm';
const LAB_START = '/opt/reprise-lab/start.py';
const STATE = join(repoRoot, 'test', 'infra', '.state');

interface Sample {
  /** Seconds from t=0 to Jupyter answering (ready line / first 200 of /api/status). */
  ready: number;
  /** Seconds from t=0 to the `1+1` reply. */
  total: number;
  /** Reprise only: seconds from t=0 to each step's end, from the Temporal history. */
  steps?: Record<string, number>;
}

const now = () => Number(process.hrtime.bigint()) / 1e9;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** POST a kernel, execute 1+1; throws unless it answers 2. */
async function kernelRoundTrip(base: string, token: string): Promise<void> {
  const j = new JupyterClient(base, token);
  try {
    const kernel = await j.startKernel();
    const r = await j.execute(kernel, '1+1', { timeoutMs: 120_000 });
    if (r.status !== 'ok' || !r.outputs.some((o) => o.text === '2')) throw new Error(`1+1 gave ${r.status}: ${JSON.stringify(r.outputs).slice(0, 200)}`);
  } finally {
    await j.close();
  }
}

/** Poll GET /api/status every 250 ms until 200 (as the CLI does for its ready line). */
async function waitStatus(base: string, token: string, timeoutMs = 600_000, alive?: () => string | undefined): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(new URL('api/status', base), { headers: { Authorization: `token ${token}` }, signal: AbortSignal.timeout(5000) });
      await r.text();
      if (r.status === 200) return;
    } catch {
      /* not yet */
    }
    const dead = alive?.();
    if (dead) throw new Error(dead);
    if (Date.now() > until) throw new Error(`Jupyter at ${base} did not answer within ${timeoutMs / 1000}s`);
    await sleep(250);
  }
}

function spawnLogged(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): { child: ChildProcess; out: () => string } {
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d));
  child.stderr!.on('data', (d: Buffer) => (text += d));
  return { child, out: () => text };
}

const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('close', () => r())));

// ---------------------------------------------------------------- Reprise

interface ReproRun extends Sample {
  labId: string;
}

async function repriseLab(sb: Sandbox, project: string, backend: string, temporal: WorkflowClient): Promise<ReproRun> {
  const wall0 = Date.now();
  const t0 = now();
  const { child, out } = spawnLogged(process.execPath, [binRun, 'lab', '--json', '--port', '0', '--on', backend], sb.env, project);
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  let ready: { labId: string; url: string } | undefined;
  const until = Date.now() + 900_000;
  while (!ready) {
    const line = stdout.split('\n').find((l) => l.startsWith('{"labId"'));
    if (line) ready = JSON.parse(line) as { labId: string; url: string };
    else {
      if (child.exitCode !== null) throw new Error(`reprise lab exited ${child.exitCode} before it was ready:\n${out()}`);
      if (Date.now() > until) {
        child.kill('SIGINT');
        throw new Error(`reprise lab not ready after 900 s:\n${out()}`);
      }
      await sleep(20);
    }
  }
  const tReady = now() - t0;
  const url = new URL(ready.url);
  const token = url.searchParams.get('token')!;
  const base = `${url.protocol}//${url.host}/`;
  let tTotal: number;
  try {
    await kernelRoundTrip(base, token);
    tTotal = now() - t0;
  } finally {
    const stop = await exec(process.execPath, [binRun, 'lab', 'stop', ready.labId], { cwd: project, env: sb.env, timeoutMs: 300_000 });
    if (stop.code !== 0) log(`lab stop ${ready.labId} exited ${stop.code}: ${stop.stderr.trim()}`);
    await Promise.race([exited(child), sleep(120_000)]);
    if (child.exitCode === null) child.kill('SIGINT');
  }
  const steps = await historySteps(temporal, ready.labId, wall0).catch((err: Error) => (log(`history of ${ready!.labId}: ${err.message}`), undefined));
  return { labId: ready.labId, ready: tReady, total: tTotal, steps };
}

/** Ends of the session's steps (seconds after the spawn), from its Temporal history. */
async function historySteps(temporal: WorkflowClient, labId: string, wall0: number): Promise<Record<string, number>> {
  const history = await temporal.getHandle(labId).fetchHistory();
  const at = (e: { eventTime?: { seconds?: unknown; nanos?: number | null } | null }) => (Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6 - wall0) / 1000;
  const steps: Record<string, number> = {};
  const scheduled = new Map<number, string>();
  const events: [string, number][] = [];
  let locals = 0;
  for (const e of history.events ?? []) {
    if (e.workflowExecutionStartedEventAttributes) events.push(['workflow started', at(e)]);
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(Number(e.eventId), s.activityType?.name ?? '?');
    const c = e.activityTaskCompletedEventAttributes;
    if (c) events.push([scheduled.get(Number(c.scheduledEventId)) ?? '?', at(e)]);
    // Local activities leave markers, in the workflow's order: prepare, findImage, submit (src/workflows/lab.ts).
    if (e.markerRecordedEventAttributes) events.push([`local#${++locals}`, at(e)]);
  }
  const localNames = ['prepare', 'findImage', 'submit'];
  for (const [name, t] of events) {
    const real = name.startsWith('local#') ? localNames[Number(name.slice(6)) - 1] : name;
    if (!real) break;
    steps[real] ??= t;
    if (real === 'submit') break;
  }
  return steps;
}

// ---------------------------------------------------------------- by hand

const handToken = () => randomBytes(24).toString('hex');

async function dockerByHand(image: string, env: NodeJS.ProcessEnv): Promise<Sample> {
  const port = await anyFreePort();
  const token = handToken();
  const name = `bench-lab-hand-${randomBytes(4).toString('hex')}`;
  const base = `http://127.0.0.1:${port}/`;
  const t0 = now();
  let started = false;
  try {
    await mustExec('docker run', 'docker', ['run', '-d', '--rm', '--name', name, '-p', `127.0.0.1:${port}:8888`, '-e', 'REPRISE_LAB_PORT=8888', '-e', `REPRISE_LAB_TOKEN=${token}`, image, 'python3', LAB_START], { env });
    started = true;
    await waitStatus(base, token);
    const ready = now() - t0;
    await kernelRoundTrip(base, token);
    return { ready, total: now() - t0 };
  } finally {
    if (started) await exec('docker', ['rm', '-f', name], { env });
  }
}

interface SlurmEnv {
  host: string;
  port: string;
  user: string;
  identity: string;
  knownHosts: string;
  partition: string;
}

function readEnvFile(file: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) vars[m[1]!] = m[2]!;
  }
  return vars;
}

function slurmEnv(): SlurmEnv {
  const v = readEnvFile(join(STATE, 'slurm.env'));
  return { host: v.SLURM_SSH_HOST!, port: v.SLURM_SSH_PORT!, user: v.SLURM_SSH_USER!, identity: v.SLURM_SSH_IDENTITY!, knownHosts: v.SLURM_SSH_KNOWN_HOSTS!, partition: v.SLURM_PARTITION! };
}

const sshArgs = (s: SlurmEnv) => ['-p', s.port, '-i', s.identity, '-o', `UserKnownHostsFile=${s.knownHosts}`, '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes', `${s.user}@${s.host}`];

/**
 * What a user does by hand on a SLURM cluster with Charliecloud: one ssh that submits the job
 * (sbatch --wrap ch-run …) and waits in the same shell until it runs, printing its node; then
 * `ssh -N -L` to the node's port through the login node; then the browser (here: the client).
 */
async function slurmByHand(s: SlurmEnv, imageDir: string, handDir: string, env: NodeJS.ProcessEnv): Promise<Sample> {
  const port = await anyFreePort();
  const remotePort = 20000 + Math.floor(Math.random() * 20000);
  const token = handToken();
  const base = `http://127.0.0.1:${port}/`;
  const jobName = `bench-lab-hand-${randomBytes(3).toString('hex')}`;
  const wrap = `export REPRISE_LAB_PORT=${remotePort} REPRISE_LAB_TOKEN=${token}; exec ch-run --set-env -b ${handDir}/project:/project ${imageDir} -- python3 ${LAB_START}`;
  const script =
    `mkdir -p ${handDir}/project && jid=$(sbatch --parsable -p ${s.partition} -J ${jobName} -o ${handDir}/%j.log --wrap '${wrap}') || exit 1; ` +
    `while :; do st=$(squeue -h -j "$jid" -o %T); case "$st" in RUNNING) break;; PENDING|CONFIGURING) sleep 0.5;; *) echo "job $jid: $st" >&2; exit 1;; esac; done; ` +
    `echo "$jid $(squeue -h -j "$jid" -o %N)"`;
  const t0 = now();
  let jobId: string | undefined;
  let tunnel: ChildProcess | undefined;
  try {
    const sub = await mustExec('sbatch over ssh', 'ssh', [...sshArgs(s), script], { env });
    const [jid, node] = sub.stdout.trim().split(/\s+/);
    jobId = jid;
    // Like a user would: the node's name as squeue shows it (the login node resolves it).
    const t = spawnLogged('ssh', ['-N', '-L', `127.0.0.1:${port}:${node}:${remotePort}`, ...sshArgs(s)], env);
    tunnel = t.child;
    await waitStatus(base, token, 600_000, () => (tunnel!.exitCode !== null ? `ssh -L exited ${tunnel!.exitCode}: ${t.out()}` : undefined));
    const ready = now() - t0;
    await kernelRoundTrip(base, token);
    return { ready, total: now() - t0 };
  } finally {
    tunnel?.kill('SIGTERM');
    if (jobId) await exec('ssh', [...sshArgs(s), `scancel ${jobId}`], { env });
    else await exec('ssh', [...sshArgs(s), `scancel --name=${jobName}`], { env });
  }
}

interface K8sEnv {
  kubeconfig: string;
  context: string;
  namespace: string;
  registry: string;
}

function k8sEnv(): K8sEnv {
  const v = readEnvFile(join(STATE, 'kubernetes.env'));
  return { kubeconfig: v.KUBECONFIG!, context: v.K8S_CONTEXT!, namespace: v.K8S_NAMESPACE!, registry: v.K8S_REGISTRY! };
}

const kubectlArgs = (k: K8sEnv, ...args: string[]) => ['--kubeconfig', k.kubeconfig, '--context', k.context, '-n', k.namespace, ...args];

/** kubectl run + wait Ready + port-forward, as a user would. */
async function k8sByHand(k: K8sEnv, reference: string, env: NodeJS.ProcessEnv): Promise<Sample> {
  const port = await anyFreePort();
  const token = handToken();
  const pod = `bench-lab-hand-${randomBytes(4).toString('hex')}`;
  const base = `http://127.0.0.1:${port}/`;
  const t0 = now();
  let forward: ChildProcess | undefined;
  try {
    await mustExec('kubectl run', 'kubectl', kubectlArgs(k, 'run', pod, '--image', reference, '--restart=Never', '--env', 'REPRISE_LAB_PORT=8888', '--env', `REPRISE_LAB_TOKEN=${token}`, '--command', '--', 'python3', LAB_START), { env });
    await mustExec('kubectl wait', 'kubectl', kubectlArgs(k, 'wait', '--for=condition=Ready', `pod/${pod}`, '--timeout=600s'), { env });
    // Pod Ready is not Jupyter listening: kubectl port-forward exits on the first refused
    // connection ("lost connection to pod"), so, as a user would, it is started again when it exits.
    let stopped = false;
    const keepForwarding = () => {
      if (stopped) return;
      forward = spawn('kubectl', kubectlArgs(k, 'port-forward', `pod/${pod}`, `${port}:8888`), { env, stdio: 'ignore' });
      forward.once('close', () => void sleep(250).then(keepForwarding));
    };
    keepForwarding();
    try {
      await waitStatus(base, token, 600_000);
    } finally {
      stopped = true;
    }
    const ready = now() - t0;
    await kernelRoundTrip(base, token);
    return { ready, total: now() - t0 };
  } finally {
    forward?.kill('SIGTERM');
    await exec('kubectl', kubectlArgs(k, 'delete', 'pod', pod, '--wait=false', '--ignore-not-found'), { env });
  }
}

// ---------------------------------------------------------------- main

interface LabView {
  labImage: { digest: string; tag?: string; reference?: string };
  backend: { name: string; kind: string };
}

async function main(): Promise<number> {
  const { values: o } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      backends: { type: 'string', default: 'local,hpc,k8s' },
      json: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
    },
  });
  const runs = Number(o.runs);
  const backends = o.backends!.split(',').filter(Boolean);
  if (!existsSync(join(repoRoot, 'dist', 'cli', 'commands', 'lab', 'index.js'))) {
    process.stderr.write('no build in dist/; run: npm run build\n');
    return 1;
  }
  const sb = await openSandbox('lab');
  const { env } = sb;
  const project = join(sb.work, 'benchlab');
  const slurmWorkdir = `~/reprise-bench-lab-${Date.now()}`;
  const handDir = `$HOME/bench-lab-hand-${Date.now()}`;
  const onSignal = () => interrupt();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const results: Record<string, { reprise: ReproRun[]; hand: Sample[]; handWhy?: string }> = {};
  const loads: number[] = [];
  let failed = false;
  let temporalConn: Connection | undefined;
  try {
    log(`REPRISE_HOME=${sb.home}  project=${project}  Temporal 127.0.0.1:${sb.port}`);
    await mustExec('init', process.execPath, [binRun, 'init', project, '--name', 'benchlab', '--base', BASE_IMAGE], { env });
    for (const add of [['apt', 'python3-pip'], ['pip', 'matplotlib==3.9.2']]) await mustExec(`env add ${add.join(' ')}`, process.execPath, [binRun, 'env', 'add', ...add], { env, cwd: project });
    if (backends.includes('hpc')) {
      const s = slurmEnv();
      await mustExec('backend add hpc', process.execPath, [binRun, 'backend', 'add', 'hpc', '--kind', 'slurm', '--host', s.host, '--port', s.port, '--user', s.user, '--identity-file', s.identity, '--known-hosts-file', s.knownHosts, '--partition', s.partition, '--workdir', slurmWorkdir], { env, cwd: project });
    }
    if (backends.includes('k8s')) {
      const k = k8sEnv();
      await mustExec('backend add k8s', process.execPath, [binRun, 'backend', 'add', 'k8s', '--kind', 'kubernetes', '--kubeconfig', k.kubeconfig, '--context', k.context, '--namespace', k.namespace, '--registry', `${k.registry}/reprise-bench-lab`], { env, cwd: project });
    }
    await mustExec('agent start', process.execPath, [binRun, 'agent', 'start'], { env, cwd: project });
    temporalConn = await sandboxConnection(sb);
    const temporal = new WorkflowClient({ connection: temporalConn });
    for (const b of backends) {
      const warm0 = Date.now();
      log(`${b}: warm-up lab (builds/stages the image)…`);
      const first = await repriseLab(sb, project, b, temporal);
      log(`${b}: warm-up ${first.labId} ready ${first.ready.toFixed(1)} s, kernel ${first.total.toFixed(1)} s (${((Date.now() - warm0) / 1000).toFixed(0)} s with stop)`);
      const view = JSON.parse((await mustExec('show', process.execPath, [binRun, 'show', first.labId, '--json'], { env, cwd: project })).stdout) as LabView;
      const hex = view.labImage.digest.replace(/^sha256:/, '');
      let hand: () => Promise<Sample>;
      let handWhy: string | undefined;
      if (b === 'local') {
        const image = view.labImage.tag ?? view.labImage.digest;
        hand = () => dockerByHand(image, env);
      } else if (b === 'hpc') {
        const s = slurmEnv();
        const home = (await mustExec('ssh', 'ssh', [...sshArgs(s), 'printf %s "$HOME"'], { env })).stdout.trim();
        const imageDir = `${slurmWorkdir.replace(/^~/, home)}/images/${hex}`;
        hand = () => slurmByHand(s, imageDir, handDir, env);
      } else {
        // The lab record names the lab image by id and local tag (the backend's push is not
        // recorded), so the user pushes it themselves, once, untimed (as the warm-up lab's push).
        const k = k8sEnv();
        const ref = `${k.registry}/reprise-bench-lab-hand:lab-${hex.slice(0, 12)}`;
        await mustExec('docker tag', 'docker', ['tag', view.labImage.tag ?? view.labImage.digest, ref], { env });
        await mustExec('docker push', 'docker', ['push', ref], { env, timeoutMs: 1_200_000 });
        await exec('docker', ['rmi', ref], { env });
        hand = () => k8sByHand(k, ref, env);
      }
      results[b] = { reprise: [], hand: [], handWhy };
      if (!handWhy) {
        const w = await hand();
        log(`${b}: warm-up by hand: ready ${w.ready.toFixed(1)} s, kernel ${w.total.toFixed(1)} s`);
      }
      for (let i = 0; i < runs; i++) {
        loads.push(load1());
        const r = await repriseLab(sb, project, b, temporal);
        results[b].reprise.push(r);
        log(`${b} #${i + 1} reprise ${r.labId}: ready ${r.ready.toFixed(2)} s, kernel ${r.total.toFixed(2)} s  steps ${JSON.stringify(roundSteps(r.steps))}`);
        if (!handWhy) {
          const h = await hand();
          results[b].hand.push(h);
          log(`${b} #${i + 1} by hand: ready ${h.ready.toFixed(2)} s, kernel ${h.total.toFixed(2)} s`);
        }
      }
    }
  } catch (err) {
    failed = true;
    log(`FAILED: ${(err as Error).stack ?? err}`);
    await printAgentLogs(sb);
  } finally {
    await temporalConn?.close().catch(() => undefined);
    if (backends.includes('hpc')) {
      const s = slurmEnv();
      await exec('ssh', [...sshArgs(s), `rm -rf ${handDir} ${slurmWorkdir}`], { env }).catch(() => undefined);
    }
    await closeSandbox(sb, o.keep! || failed);
  }
  print(results, loads, runs, o.json!);
  return failed && Object.keys(results).length === 0 ? 1 : failed ? 1 : 0;
}

const roundSteps = (s?: Record<string, number>) => (s ? Object.fromEntries(Object.entries(s).map(([k, v]) => [k, Number(v.toFixed(2))])) : undefined);

function print(results: Record<string, { reprise: ReproRun[]; hand: Sample[]; handWhy?: string }>, loads: number[], runs: number, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify({ runs, load1: loads, results }, null, 2) + '\n');
    return;
  }
  const f = (xs: number[]) => {
    if (!xs.length) return '—';
    const s = stats(xs);
    return `${s.median.toFixed(1)} s (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;
  };
  const lines = [
    `Time from the first command to a kernel's reply to 1+1 (warm images), median (min–max) of ${runs}; load1 during the rounds ${loads.length ? `${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}` : '?'}`,
    '',
    '| backend | reprise lab: ready | reprise lab: kernel 1+1 | by hand: ready | by hand: kernel 1+1 | ratio (kernel, medians) |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const [b, r] of Object.entries(results)) {
    const rt = r.reprise.map((x) => x.total);
    const ht = r.hand.map((x) => x.total);
    const ratio = rt.length && ht.length ? `${(stats(rt).median / stats(ht).median).toFixed(2)}×` : '—';
    lines.push(`| ${b} | ${f(r.reprise.map((x) => x.ready))} | ${f(rt)} | ${r.handWhy ? 'n/a' : f(r.hand.map((x) => x.ready))} | ${r.handWhy ? 'n/a' : f(ht)} | ${ratio} |`);
  }
  lines.push('', "Where Reprise's time goes (medians, seconds; from the spawn, the ends of the session's steps in its Temporal history):", '');
  lines.push('| backend | CLI start → workflow started | prepare (snapshot) | image lookup + lab image check | stage | submit | submit → Jupyter answers via tunnel | ready → 1+1 reply | by hand: start → answers | by hand: ready → 1+1 |');
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const [b, r] of Object.entries(results)) {
    const med = (fn: (x: ReproRun) => number | undefined) => {
      const xs = r.reprise.map(fn).filter((x): x is number => x !== undefined && Number.isFinite(x));
      return xs.length ? stats(xs).median.toFixed(2) : '?';
    };
    const st = (x: ReproRun, k: string) => x.steps?.[k];
    const d = (x: ReproRun, a: string, bb: string) => (st(x, a) !== undefined && st(x, bb) !== undefined ? st(x, a)! - st(x, bb)! : undefined);
    const hm = (fn: (x: Sample) => number) => (r.hand.length ? stats(r.hand.map(fn)).median.toFixed(2) : 'n/a');
    lines.push(
      `| ${b} | ${med((x) => st(x, 'workflow started'))} | ${med((x) => d(x, 'prepare', 'workflow started'))} | ${med((x) => d(x, 'buildLabImage', 'prepare'))} | ${med((x) => d(x, 'stage', 'buildLabImage'))} | ${med((x) => d(x, 'submit', 'stage'))} | ${med((x) => (st(x, 'submit') !== undefined ? x.ready - st(x, 'submit')! : undefined))} | ${med((x) => x.total - x.ready)} | ${hm((x) => x.ready)} | ${hm((x) => x.total - x.ready)} |`,
    );
    if (r.handWhy) lines.push('', `(${b}: no by-hand figure: ${r.handWhy})`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err}\n`);
    process.exit(1);
  },
);
