/**
 * The rows of the benchmark table (bench/table.ts): each measures Reprise and the plain tool
 * side by side, interleaved round by round, in the table's one sandbox (REPRISE_HOME, agent).
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { charliecloud } from '../src/backends/slurm/container-runtime.js';
import { shellQuote } from '../src/shell-quote.js';
import { loadProject } from '../src/project/layout.js';
import { generateHistory } from './history-gen.js';
import { binRun, cpuSample, cpuSince, exec, fmt, log, mustExec, repoRoot, stats, type CpuSample, type Exec, type Sandbox, type Stats } from './lib.js';

export const ROW_IDS = ['version', 'docker', 'reuse', 'slurm', 'kubernetes', 'history', 'tiny'] as const;
export type RowId = (typeof ROW_IDS)[number];

export interface Side {
  label: string;
  stats: Stats;
  samples: number[];
}

/** One comparison: Reprise against the plain tool (or a large project against a small one). */
export interface Pair {
  what: string;
  unit: 's' | 'runs/s';
  reprise: Side;
  baseline: Side;
  /** reprise/baseline at the median (for throughput: reprise's over the baseline's). */
  ratio: number;
}

export interface RowResult {
  id: RowId;
  title: string;
  target: string;
  verdict: 'PASS' | 'MISS' | 'SKIPPED' | 'ERROR';
  pairs: Pair[];
  /** Why a row was skipped or could not measure. */
  reason?: string;
  notes: string[];
  load: { before: number; after: number };
  seconds: number;
}

export interface RowContext {
  sb: Sandbox;
  /** Interleaved rounds per row. */
  runs: number;
  /** Runs of the throughput row (1,000 on demand). */
  tiny: number;
  parallelism: number;
}

/** What a row hands back: its pairs and whether the target is met. */
export interface Measured {
  pairs: Pair[];
  pass: boolean;
  notes?: string[];
}

/** A row that cannot run here (a test cluster not up): reported SKIPPED, not failed. */
export class Skip extends Error {}

export interface Row {
  id: RowId;
  title: string;
  target: string;
  measure(ctx: RowContext, cleanups: (() => Promise<void>)[]): Promise<Measured>;
}

const BUSYBOX = 'local/busybox:latest';
const DEBIAN = 'local/debian-python:bookworm';

const reprise = (ctx: RowContext, what: string, args: string[], cwd?: string) => mustExec(what, process.execPath, [binRun, ...args], { cwd, env: ctx.sb.env });

async function json<T>(ctx: RowContext, what: string, args: string[], cwd: string): Promise<T> {
  return JSON.parse((await reprise(ctx, what, [...args, '--json'], cwd)).stdout) as T;
}

const projects = new Map<string, Promise<string>>();

/** A project in the sandbox, made once per name (`init --base`). */
function project(ctx: RowContext, name: string, base: string): Promise<string> {
  let p = projects.get(name);
  if (!p) {
    const root = join(ctx.sb.work, name);
    p = reprise(ctx, `init ${name}`, ['init', root, '--name', name, '--base', base]).then(() => root);
    projects.set(name, p);
  }
  return p;
}

interface Warm {
  runId: string;
  seconds: number;
  image: { digest: string; tag?: string; reference?: string };
}

/** One run that starts the agent, builds (and stages) the image; what it recorded. */
async function warmUp(ctx: RowContext, root: string, runArgs: string[] = []): Promise<Warm> {
  const r = await reprise(ctx, 'warm-up run', ['run', ...runArgs, '--json', '--', 'true'], root);
  const runId = (JSON.parse(r.stdout) as { runId: string }).runId;
  const shown = await json<{ image: Warm['image'] }>(ctx, 'show', ['show', runId], root);
  log(`warm-up ${runId} took ${fmt(r.seconds)}; image ${shown.image.reference ?? shown.image.digest}`);
  return { runId, seconds: r.seconds, image: shown.image };
}

/** Runs `steps` round by round, in order within each round; seconds per step. */
async function interleave(rounds: number, row: string, steps: Record<string, (round: number) => Promise<number>>): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = Object.fromEntries(Object.keys(steps).map((k) => [k, []]));
  for (let i = 1; i <= rounds; i++) {
    for (const [name, step] of Object.entries(steps)) out[name]!.push(await step(i));
    log(`${row} ${String(i).padStart(3)}/${rounds}  ${Object.entries(out).map(([k, v]) => `${k} ${fmt(v.at(-1)!)}`).join('  ')}`);
  }
  return out;
}

/** CPU seconds per run of each side, summed over its rounds (children: the CLIs this bench ran). */
class CpuLedger {
  private readonly total: Record<string, { cpu: CpuSample; runs: number }> = {};
  constructor(private readonly sb: Sandbox) {}

  /** Runs `step` (which makes `runs` runs) and adds what it cost to `name`. */
  async add<T>(name: string, runs: number, step: () => Promise<T>): Promise<T> {
    const before = await cpuSample(this.sb);
    const out = await step();
    const d = cpuSince(before, await cpuSample(this.sb));
    const t = (this.total[name] ??= { cpu: { children: 0, worker: 0, temporal: 0 }, runs: 0 });
    t.cpu = { children: t.cpu.children + d.children, worker: t.cpu.worker + d.worker, temporal: t.cpu.temporal + d.temporal };
    t.runs += runs;
    return out;
  }

  /** One line: CPU seconds per run of the CLIs, the worker and the Temporal server, per side. */
  note(): string {
    const per = (x: number, n: number) => (Number.isFinite(x) ? (x / n).toFixed(3) : '?');
    return (
      'CPU per run: ' +
      Object.entries(this.total)
        .map(([name, { cpu, runs }]) => `${name}: CLI ${per(cpu.children, runs)} s, worker ${per(cpu.worker, runs)} s, Temporal ${per(cpu.temporal, runs)} s`)
        .join('; ') +
      ' (dockerd and containerd not counted; the worker and Temporal also idle-poll)'
    );
  }
}

const side = (label: string, samples: number[]): Side => ({ label, stats: stats(samples), samples });

/** The rows that run the local base image need it built (scripts/docker-up.sh builds it). */
async function requireDebian(env: NodeJS.ProcessEnv): Promise<void> {
  await mustExec('base image check', 'docker', ['image', 'inspect', DEBIAN], { env }).catch(() => {
    throw new Error(`${DEBIAN} is missing; run: bash scripts/docker-up.sh`);
  });
}

function pair(what: string, reprise: Side, baseline: Side, unit: Pair['unit'] = 's'): Pair {
  return { what, unit, reprise, baseline, ratio: reprise.stats.median / baseline.stats.median };
}

// --- reprise --version against node -e 0 ---------------------------------------------------

const version: Row = {
  id: 'version',
  title: '`reprise --version` vs `node -e 0`',
  target: '≤ 1.5×',
  async measure(ctx) {
    const env = ctx.sb.env;
    await mustExec('--version warm-up', process.execPath, [binRun, '--version'], { env });
    const t = await interleave(ctx.runs, 'version', {
      reprise: async () => (await mustExec('--version', process.execPath, [binRun, '--version'], { env })).seconds,
      node: async () => (await mustExec('node -e 0', process.execPath, ['-e', '0'], { env })).seconds,
    });
    const p = pair('start-up', side('reprise --version', t.reprise!), side('node -e 0', t.node!));
    return { pairs: [p], pass: p.ratio <= 1.5 };
  },
};

// --- warm reprise run on Docker against docker run --rm -----------------------------------

const docker: Row = {
  id: 'docker',
  title: 'warm `reprise run -- true` on Docker vs `docker run --rm` of the same image',
  target: '≤ 1.5× and ≤ +0.3 s at the median',
  async measure(ctx) {
    const env = ctx.sb.env;
    await mustExec('docker info', 'docker', ['info', '--format', '{{.ServerVersion}}'], { env });
    await requireDebian(env);
    const root = await project(ctx, 'launch', DEBIAN);
    const warm = await warmUp(ctx, root);
    // docker runs the very image the run recorded (its digest is the local image id).
    await mustExec('docker warm-up', 'docker', ['run', '--rm', warm.image.digest, 'true'], { env });
    const cpu = new CpuLedger(ctx.sb);
    const t = await interleave(ctx.runs, 'docker', {
      reprise: async (i) => (await cpu.add('reprise', 1, () => reprise(ctx, `reprise run #${i}`, ['run', '--', 'true'], root))).seconds,
      docker: async (i) => (await cpu.add('docker', 1, () => mustExec(`docker run #${i}`, 'docker', ['run', '--rm', warm.image.digest, 'true'], { env }))).seconds,
    });
    const p = pair('run `true`', side('reprise run -- true', t.reprise!), side('docker run --rm <image> true', t.docker!));
    const diff = p.reprise.stats.median - p.baseline.stats.median;
    return { pairs: [p], pass: p.ratio <= 1.5 && diff <= 0.3, notes: [`difference at the median ${diff >= 0 ? '+' : ''}${fmt(diff)} (target ≤ +0.300 s)`, cpu.note()] };
  },
};

// --- a reused run against docker run of the same command -------------------------------------

const reuse: Row = {
  id: 'reuse',
  title: '`reprise run --reuse` of a run already recorded (reused: no job) vs `docker run --rm` of the same command',
  target: '< 1 s and ≤ 1× at the median',
  async measure(ctx) {
    const env = ctx.sb.env;
    await requireDebian(env);
    const root = await project(ctx, 'reuse', DEBIAN);
    const warm = await warmUp(ctx, root);
    const command = ['sh', '-c', 'mkdir -p output && echo reused > output/r.txt'];
    await reprise(ctx, 'the run to reuse', ['run', '--', ...command], root);
    await mustExec('docker warm-up', 'docker', ['run', '--rm', warm.image.digest, ...command], { env });
    const cpu = new CpuLedger(ctx.sb);
    const t = await interleave(ctx.runs, 'reuse', {
      reprise: async (i) => (await cpu.add('reprise', 1, () => reprise(ctx, `reprise run --reuse #${i}`, ['run', '--reuse', '--', ...command], root))).seconds,
      docker: async (i) => (await cpu.add('docker', 1, () => mustExec(`docker run #${i}`, 'docker', ['run', '--rm', warm.image.digest, ...command], { env }))).seconds,
    });
    const feed = JSON.parse((await reprise(ctx, 'log', ['log', '--json', '-n', String(ctx.runs)], root)).stdout) as { state: string }[];
    const reused = feed.filter((e) => e.state === 'reused').length;
    const p = pair('reused run', side('reprise run --reuse (reused)', t.reprise!), side('docker run --rm <image> sh -c …', t.docker!));
    return { pairs: [p], pass: p.reprise.stats.median < 1 && p.ratio <= 1 && reused === ctx.runs, notes: [`${reused} of ${ctx.runs} runs recorded as reused`, cpu.note()] };
  },
};

// --- the test clusters -------------------------------------------------------------------------

/** KEY=VALUE lines of test/infra/.state/<cluster>.env; Skip when the cluster was never brought up. */
function clusterEnv(cluster: 'slurm' | 'kubernetes', keys: string[]): Record<string, string> {
  const file = join(repoRoot, 'test/infra/.state', `${cluster}.env`);
  const how = `cluster not up: start it with test/infra/${cluster} up`;
  if (!existsSync(file)) throw new Skip(how);
  const vars: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) vars[m[1]!] = m[2]!;
  }
  for (const k of keys) if (!vars[k]) throw new Skip(`${file} lacks ${k}; ${how}`);
  return vars;
}

/** A probe of the cluster (up to 20 s); Skip with its last words when it does not answer. */
async function probe(cluster: string, cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const r = await exec(cmd, args, { env, timeoutMs: 20_000 });
  if (r.code !== 0) {
    const why = (r.stderr || r.stdout).trim().split('\n').at(-1) ?? `exit ${r.code ?? r.signal}`;
    throw new Skip(`cluster not up (${why}): start it with test/infra/${cluster} up`);
  }
}

const slurm: Row = {
  id: 'slurm',
  title: 'a SLURM run vs `ssh … sbatch --wait` of the same container command',
  target: '≤ 1.1×',
  async measure(ctx, cleanups) {
    const env = ctx.sb.env;
    const c = clusterEnv('slurm', ['SLURM_SSH_HOST', 'SLURM_SSH_PORT', 'SLURM_SSH_USER', 'SLURM_SSH_IDENTITY', 'SLURM_SSH_KNOWN_HOSTS', 'SLURM_PARTITION']);
    const sshArgs = [
      '-F', '/dev/null', '-p', c.SLURM_SSH_PORT!, '-i', c.SLURM_SSH_IDENTITY!, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${c.SLURM_SSH_KNOWN_HOSTS}`, `${c.SLURM_SSH_USER}@${c.SLURM_SSH_HOST}`,
    ];
    const ssh = (what: string, remote: string) => mustExec(what, 'ssh', [...sshArgs, remote], { env });
    await probe('slurm', 'ssh', [...sshArgs, 'sinfo -h -o %a'], env);
    const home = (await ssh('ssh $HOME', 'printf %s "$HOME"')).stdout.trim();
    // Everything of this bench on the cluster lives here and is removed at the end.
    const workdir = `${home}/reprise-bench/${basename(ctx.sb.home)}`;
    cleanups.push(async () => void (await exec('ssh', [...sshArgs, `rm -rf ${shellQuote(workdir)}; rmdir ${shellQuote(`${home}/reprise-bench`)} 2>/dev/null; true`], { env })));
    await reprise(ctx, 'backend add hpc', ['backend', 'add', 'hpc', '--kind', 'slurm', '--host', c.SLURM_SSH_HOST!, '--port', c.SLURM_SSH_PORT!,
      '--user', c.SLURM_SSH_USER!, '--identity-file', c.SLURM_SSH_IDENTITY!, '--known-hosts-file', c.SLURM_SSH_KNOWN_HOSTS!,
      '--partition', c.SLURM_PARTITION!, '--workdir', workdir]);
    const root = await project(ctx, 'cluster', BUSYBOX);
    const warm = await warmUp(ctx, root, ['--on', 'hpc']);
    // The image the backend converted on the cluster, run by the command line it submits.
    const image = charliecloud.imagePath(`${workdir}/images`, warm.image.digest.replace(/^sha256:/, ''));
    const direct = `${workdir}/direct`;
    await ssh('mkdir', `mkdir -p ${shellQuote(`${direct}/project`)}`);
    const container = charliecloud.runCommand(image, `${direct}/project`, ['true'], 0);
    const sbatch = ['sbatch', '--wait', '--parsable', '-p', c.SLURM_PARTITION!, '-J', 'reprise-bench-direct', '-o', `${direct}/job-%j.log`, '-D', direct, '--wrap', container]
      .map(shellQuote)
      .join(' ');
    await ssh('sbatch warm-up', sbatch);
    const t = await interleave(ctx.runs, 'slurm', {
      reprise: async (i) => (await reprise(ctx, `reprise run --on hpc #${i}`, ['run', '--on', 'hpc', '--', 'true'], root)).seconds,
      sbatch: async (i) => (await ssh(`ssh sbatch --wait #${i}`, sbatch)).seconds,
    });
    const p = pair('run `true`', side('reprise run --on hpc -- true', t.reprise!), side('ssh … sbatch --wait --wrap "ch-run … true"', t.sbatch!));
    return { pairs: [p], pass: p.ratio <= 1.1 };
  },
};

const kubernetes: Row = {
  id: 'kubernetes',
  title: 'a Kubernetes run vs a Job created and awaited directly (`kubectl create -f job.json` + `wait` + `logs`)',
  target: '≤ 1.1×',
  async measure(ctx, cleanups) {
    const env = ctx.sb.env;
    const c = clusterEnv('kubernetes', ['K8S_CONTEXT', 'K8S_NAMESPACE', 'K8S_REGISTRY', 'KUBECONFIG']);
    const k = ['--kubeconfig', c.KUBECONFIG!, '--context', c.K8S_CONTEXT!, '-n', c.K8S_NAMESPACE!];
    const kubectl = (what: string, args: string[]) => mustExec(what, 'kubectl', [...k, ...args], { env });
    await probe('kubernetes', 'kubectl', [...k, 'get', '--raw', '/readyz'], env);
    await reprise(ctx, 'backend add k8s', ['backend', 'add', 'k8s', '--kind', 'kubernetes', '--kubeconfig', c.KUBECONFIG!, '--context', c.K8S_CONTEXT!,
      '--namespace', c.K8S_NAMESPACE!, '--registry', `${c.K8S_REGISTRY}/reprise-bench`]);
    const root = await project(ctx, 'cluster', BUSYBOX);
    const warm = await warmUp(ctx, root, ['--on', 'k8s']);
    // What the backend pushed and the Job pulls: the image's digest reference in the bench's registry path.
    const registry = `${c.K8S_REGISTRY}/reprise-bench/`;
    const repoDigests = JSON.parse((await mustExec('image inspect', 'docker', ['image', 'inspect', '--format', '{{json .RepoDigests}}', warm.image.digest], { env })).stdout) as string[];
    const ref = warm.image.reference ?? repoDigests.find((r) => r.startsWith(registry));
    if (!ref) throw new Error(`the warm-up run's image ${warm.image.digest} has no reference under ${registry}: ${repoDigests.join(' ')}`);
    const tag = basename(ctx.sb.home).replace(/[^a-z0-9]/g, '').slice(-8);
    const made: string[] = [];
    cleanups.push(async () => {
      if (made.length) await exec('kubectl', [...k, 'delete', 'job', '--ignore-not-found', '--wait=false', ...made], { env });
    });
    // The test namespace enforces the restricted Pod Security profile (Reprise's pods meet it):
    // a bare `kubectl create job` is refused there, so the plain Job carries the same settings.
    const manifests = await mkdtemp(join(ctx.sb.home, 'jobs-'));
    const restricted = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: 'RuntimeDefault' } };
    const direct = async (name: string) => {
      made.push(name);
      const file = join(manifests, `${name}.json`);
      const job = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name }, spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [{ name, image: ref, command: ['true'], securityContext: restricted }] } } } };
      await writeFile(file, JSON.stringify(job));
      const create = await kubectl(`create job ${name}`, ['create', '-f', file]);
      const wait = await kubectl(`wait ${name}`, ['wait', '--for=condition=complete', '--timeout=300s', `job/${name}`]);
      const logs = await kubectl(`logs ${name}`, ['logs', `job/${name}`]);
      return create.seconds + wait.seconds + logs.seconds;
    };
    await direct(`bench-${tag}-warm`);
    const t = await interleave(ctx.runs, 'kubernetes', {
      reprise: async (i) => (await reprise(ctx, `reprise run --on k8s #${i}`, ['run', '--on', 'k8s', '--', 'true'], root)).seconds,
      kubectl: (i) => direct(`bench-${tag}-${i}`),
    });
    const p = pair('run `true`', side('reprise run --on k8s -- true', t.reprise!), side('kubectl create -f job.json + wait + logs', t.kubectl!));
    return { pairs: [p], pass: p.ratio <= 1.1 };
  },
};

// --- reading a long history ----------------------------------------------------------------

/** Bump when history-gen.ts changes what it writes: the cached 10,000-run project is remade. */
const HISTORY_FORMAT = 1;
const BIG = 10_000;
const SMALL = 100;

/**
 * The 10,000-run project is generated once per machine (about 100 s: every record commit holds
 * the whole, growing activity tree) into a cache, and cloned (objects hard-linked) per bench.
 */
async function bigHistoryTemplate(ctx: RowContext): Promise<string> {
  const cache = process.env.REPRISE_BENCH_CACHE ?? join(homedir(), '.cache', 'reprise-bench');
  const template = join(cache, `history-v${HISTORY_FORMAT}-${BIG}`);
  if (existsSync(join(template, '.reprise', 'project.yaml'))) return template;
  await mkdir(cache, { recursive: true });
  const tmp = await mkdtemp(join(cache, '.gen-'));
  try {
    const root = join(tmp, 'history');
    await reprise(ctx, 'init history', ['init', root, '--name', 'history', '--base', BUSYBOX]);
    log(`generating ${BIG} record commits with git fast-import into ${template} (once per machine)…`);
    const g = await generateHistory(root, (await loadProject(root)).spec, BIG);
    log(`generated ${BIG} runs in ${fmt(g.seconds)}`);
    await rename(root, template);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return template;
}

const history: Row = {
  id: 'history',
  title: `\`reprise log -n 50\` and \`reprise runs\` on a ${BIG.toLocaleString('en')}-run project vs a ${SMALL}-run project`,
  target: '≤ 0.3 s, ≤ 1.2×',
  async measure(ctx) {
    const env = ctx.sb.env;
    const small = await project(ctx, 'history100', BUSYBOX);
    const g = await generateHistory(small, (await loadProject(small)).spec, SMALL);
    log(`generated ${SMALL} runs in ${fmt(g.seconds)}`);
    const template = await bigHistoryTemplate(ctx);
    const big = join(ctx.sb.work, 'history10k');
    const cloned = await mustExec('clone', 'git', ['clone', '-q', '--local', template, big], { env });
    await mustExec('remote remove', 'git', ['remote', 'remove', 'origin'], { cwd: big, env });
    log(`cloned the ${BIG}-run project in ${fmt(cloned.seconds)}`);
    // One real run on top of each: the generated records and a live one read alike, and the
    // agent knows a run of each project (what `runs` lists).
    for (const [root, n] of [[small, SMALL], [big, BIG]] as const) {
      await warmUp(ctx, root);
      const feed = await json<unknown[]>(ctx, 'log', ['log'], root);
      if (feed.length !== n + 1) throw new Error(`reprise log lists ${feed.length} runs in ${root}, expected ${n + 1}`);
    }
    const timed = (args: string[], root: string) => async (i: number) => (await reprise(ctx, `reprise ${args.join(' ')} #${i}`, args, root)).seconds;
    const t = await interleave(ctx.runs, 'history', {
      log10k: timed(['log', '-n', '50'], big),
      log100: timed(['log', '-n', '50'], small),
      runs10k: timed(['runs'], big),
      runs100: timed(['runs'], small),
    });
    const pairs = [
      pair('`reprise log -n 50`', side(`${BIG} runs`, t.log10k!), side(`${SMALL} runs`, t.log100!)),
      pair('`reprise runs`', side(`${BIG} runs`, t.runs10k!), side(`${SMALL} runs`, t.runs100!)),
    ];
    return { pairs, pass: pairs.every((p) => p.reprise.stats.median <= 0.3 && p.ratio <= 1.2) };
  },
};

// --- throughput of many tiny runs -------------------------------------------------------------

/** `n` jobs, `parallelism` at a time; the wall time of all. */
async function pool(n: number, parallelism: number, job: (i: number) => Promise<Exec>): Promise<number> {
  const started = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallelism, n) }, async () => {
      while (next < n) await job(next++);
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const tiny: Row = {
  id: 'tiny',
  title: 'tiny runs (`true`) at parallelism 4: recorded throughput vs plain `docker run` at the same parallelism',
  target: '≥ 0.9×',
  async measure(ctx) {
    const env = ctx.sb.env;
    const root = await project(ctx, 'tiny', BUSYBOX);
    const warm = await warmUp(ctx, root);
    await mustExec('docker warm-up', 'docker', ['run', '--rm', warm.image.digest, 'true'], { env });
    // Chunks of the runs, alternating reprise and docker, so load from elsewhere hits both alike.
    const chunks = Math.max(1, Math.min(10, Math.floor(ctx.tiny / (2 * ctx.parallelism))));
    const sizes = Array.from({ length: chunks }, (_, i) => Math.floor(ctx.tiny / chunks) + (i < ctx.tiny % chunks ? 1 : 0));
    const chunkSize = (round: number) => sizes[round - 1]!;
    const cpu = new CpuLedger(ctx.sb);
    const seconds = await interleave(chunks, 'tiny', {
      reprise: (r) =>
        cpu.add('reprise', chunkSize(r), () => pool(chunkSize(r), ctx.parallelism, (i) => reprise(ctx, `reprise run (chunk ${r}, #${i})`, ['run', '--', 'true'], root))),
      docker: (r) =>
        cpu.add('docker', chunkSize(r), () =>
          pool(chunkSize(r), ctx.parallelism, (i) => mustExec(`docker run (chunk ${r}, #${i})`, 'docker', ['run', '--rm', warm.image.digest, 'true'], { env })),
        ),
    });
    const recorded = (await json<unknown[]>(ctx, 'log', ['log'], root)).length - 1;
    if (recorded !== ctx.tiny) throw new Error(`${recorded} runs recorded, expected ${ctx.tiny}`);
    const perSecond = (xs: number[]) => xs.map((s, i) => sizes[i]! / s);
    const total = (xs: number[]) => ctx.tiny / xs.reduce((a, b) => a + b, 0);
    const p = pair(`${ctx.tiny} runs in ${chunks} chunks`, side('reprise run -- true (recorded)', perSecond(seconds.reprise!)), side('docker run --rm <image> true', perSecond(seconds.docker!)), 'runs/s');
    const overall = total(seconds.reprise!) / total(seconds.docker!);
    return {
      pairs: [p],
      pass: overall >= 0.9,
      notes: [`overall: reprise ${total(seconds.reprise!).toFixed(2)} runs/s, docker ${total(seconds.docker!).toFixed(2)} runs/s: ${overall.toFixed(2)}× (target ≥ 0.9×); all ${recorded} recorded`, cpu.note()],
    };
  },
};

export const ROWS: Record<RowId, Row> = { version, docker, reuse, slurm, kubernetes, history, tiny };
