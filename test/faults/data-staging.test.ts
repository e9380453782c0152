// Faults while a run's tracked inputs are being staged: the worker SIGKILLed in the middle of it,
// on each backend, a new worker started by the next reprise command. Staging is caught in the act
// from outside (Docker: the inputs half linked into the run's export; SLURM: the login node's data
// cache half filled; Kubernetes: the pod's objects directory half filled, before its sources are
// marked ready), so the kill lands mid-stage, not before nor after. The run must complete, be
// recorded once, its job must see every input byte-identical (md5 list in its log), and the
// cluster's cache must hold one copy of each object, no `.part` left behind.
// Needs the SLURM and Kubernetes test clusters, the object store (test/infra/s3) and `npm run build`.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_LOG } from '../../src/config/env.js';
import { useCliProject, type CliProject } from '../helpers/cli-project.js';
import { readInfraEnv } from '../helpers/infra.js';
import { s3Env } from '../integration/data/s3-env.js';
import { kubernetesAddArgs, loadClusterEnv } from '../integration/kubernetes/kubernetes-backend-env.js';
import { clusterConfig, slurmAddArgs } from '../integration/slurm/slurm-backend-env.js';
import { dockerJobs, FaultContext, killWorker, kubernetesJobs, slurmJobs, type JobWatcher, type TrialRow } from './harness.js';
import { saveRow } from './report.js';

const FAULT = 'worker SIGKILL during staging';
const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
/** What the job prints: every input's md5 and path, then how many partial files its project holds. */
const JOB = ['sh', '-c', 'find input -type f ! -name "*.dvc" ! -name .gitignore -exec md5sum {} + | LC_ALL=C sort -k 2; echo "partial: $(find . -name "*.part*" -o -name .reprise-data | wc -l)"'];

interface Staged {
  /** Every input file, by project path. */
  inputs: Map<string, Buffer>;
  /** The job's expected log: the sorted md5 list, then no partial file. */
  expected: string;
}

/**
 * The project's tracked inputs, pushed to the store: one 3 MiB file and a folder of `many` small
 * files (each its own object: staging takes a moment, object by object, without any sleep).
 */
async function trackedProject(p: CliProject, many: number): Promise<Staged> {
  const s3 = s3Env();
  Object.assign(p.cli.env, { AWS_SHARED_CREDENTIALS_FILE: s3.credentialsFile, AWS_PROFILE: 'writer', AWS_REGION: s3.region });
  const inputs = new Map<string, Buffer>([['input/big.bin', randomBytes(3 * 2 ** 20)]]);
  for (let i = 0; i < many; i++) inputs.set(`input/many/f${String(i).padStart(4, '0')}.bin`, randomBytes(4096 + i));
  for (const [path, bytes] of inputs) {
    await mkdir(join(p.root, path, '..'), { recursive: true });
    await writeFile(join(p.root, path), bytes);
  }
  for (const args of [['data', 'add', 'input/big.bin', 'input/many'], ['data', 'remote', 'set', `s3://${s3.bucket}/faults-${suite}`, '--endpoint', s3.endpoint], ['data', 'push']]) {
    const r = await p.cli.run(args, p.root);
    if (r.code !== 0) throw new Error(`reprise ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  }
  const list = [...inputs].sort(([a], [b]) => (a < b ? -1 : 1)).map(([path, b]) => `${md5(b)}  ${path}`);
  return { inputs, expected: `${list.join('\n')}\npartial: 0\n` };
}

/**
 * One run, the worker SIGKILLed as soon as `midStage` says staging is under way (polled every
 * `pollMs`), then the run followed to its end from outside. Throws if staging was never caught in
 * the act (the fault would then prove nothing).
 */
async function killDuringStaging(
  ctx: FaultContext,
  watcher: JobWatcher,
  midStage: (runId: string) => boolean,
  pollMs: number,
  /** Run states by which staging is over (Kubernetes: the pod fetches once its Job runs). */
  over = ['running', 'collecting', 'succeeded', 'failed', 'cancelled'],
): Promise<TrialRow & { runId: string; log: string }> {
  const t0 = Date.now();
  const seen = new Set<string>();
  const look = (id: string) => {
    try {
      for (const j of watcher.ids(id)) seen.add(j);
    } catch {
      /* the backend did not answer this time */
    }
  };
  await ctx.ensureAgent();
  const start = await ctx.cli.run(['run', '--detach', '--on', ctx.backendName, '--', ...JOB], ctx.root);
  if (start.code !== 0) throw new Error(`reprise run --detach exited ${start.code}: ${start.stderr}`);
  const runId = start.stdout.trim().split('\n').pop()!.trim();
  let caught = false;
  for (const end = Date.now() + 300_000; Date.now() < end; ) {
    if (midStage(runId)) {
      caught = true;
      break;
    }
    const state = await ctx.progressState(runId);
    if (state && over.includes(state)) break;
    await sleep(pollMs);
  }
  if (!caught) throw new Error(`run ${runId}: staging was never seen under way (state ${await ctx.progressState(runId)}); the fault would land outside it`);
  await killWorker(ctx);
  await ctx.ensureAgent();
  let status: string | undefined;
  for (const end = Date.now() + 600_000; Date.now() < end; ) {
    look(runId);
    status = await ctx.workflowStatus(runId);
    if (status && status !== 'RUNNING') break;
    await sleep(1000);
  }
  look(runId);
  const records = ctx.records(runId);
  const state = records[0]?.state;
  const pods = [...seen].filter((i) => i.startsWith('Pod/')).length;
  const jobs = pods || [...seen].filter((i) => i.startsWith('Job/')).length || seen.size;
  const logFile = join(ctx.cli.env.REPRISE_HOME!, 'runs', runId, JOB_LOG);
  const row: TrialRow = {
    fault: FAULT,
    backend: ctx.backend,
    trial: 1,
    runId,
    completed: status === 'COMPLETED' && records.length === 1 && state === 'succeeded',
    recordedOnce: records.length === 1,
    failedWithReason: false,
    lost: records.length === 0,
    jobs,
    duplicateJobs: Math.max(0, jobs - 1),
    state: state ?? `workflow ${status ?? 'unreachable'}`,
    ...(state && state !== 'succeeded' ? { reason: ctx.reasonOf(records[0]!.commit, runId) } : {}),
    seconds: Math.round((Date.now() - t0) / 100) / 10,
  };
  saveRow(row);
  return { ...row, runId, log: existsSync(logFile) ? readFileSync(logFile, 'utf8') : '' };
}

function expectCompletedOnce(row: TrialRow & { log: string }, staged: Staged): void {
  const what = JSON.stringify({ ...row, log: row.log.slice(-400) });
  expect(row.recordedOnce, what).toBe(true);
  expect(row.completed, what).toBe(true);
  expect(row.duplicateJobs, what).toBe(0);
  expect(row.log, 'the job saw every input byte-identical and no partial file').toContain(staged.expected);
}

/** Every file under `dir`, relative. */
function walk(dir: string, rel = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name), join(rel, e.name)) : [join(rel, e.name)]));
}

/** A DVC-layout cache (files/md5/xx/rest) holds exactly `inputs`' objects, each once and intact, nothing else under files/md5. */
function expectOneCopyEach(cacheDir: string, inputs: Map<string, Buffer>, alsoAllowed: (rel: string) => boolean = () => false): void {
  const want = new Set([...inputs.values()].map((b) => md5(b)));
  const files = walk(join(cacheDir, 'files/md5'));
  expect(files.filter((f) => /\.part/.test(f)), 'no partial object left in the cache').toEqual([]);
  const objects = files.filter((f) => !alsoAllowed(f));
  expect(objects.length, `objects in ${cacheDir}`).toBe(want.size);
  for (const f of objects) {
    const m = f.replace(/\//g, '');
    expect(want.has(m), `${f} is one of the run's objects`).toBe(true);
    expect(md5(readFileSync(join(cacheDir, 'files/md5', f))), `${f} intact`).toBe(m);
  }
}

describe('the worker SIGKILLed while a run\'s tracked inputs are staged', () => {
  describe('Docker', () => {
    const p = useCliProject('faults-data-docker');
    let ctx: FaultContext;
    let staged: Staged;
    beforeAll(async () => {
      ctx = new FaultContext(p.cli, p.root, 'local', 'docker', dockerJobs);
      // Docker mounts a tracked folder from a tree of links to the local cache, built (aside, then
      // renamed into place) by the first run of that folder version: many objects make that take a moment.
      staged = await trackedProject(p, 3000);
    }, 600_000);
    afterAll(async () => ctx?.close());

    it('killed while the folder\'s tree of links is built: the run completes, recorded once, the job sees every byte; the local cache is intact', async () => {
      const trees = join(p.root, '.dvc/cache/reprise/trees');
      const row = await killDuringStaging(
        ctx,
        dockerJobs,
        () => {
          try {
            // The tree being built aside, half full.
            return readdirSync(trees)
              .filter((t) => t.endsWith('.tmp'))
              .some((t) => {
                const n = readdirSync(join(trees, t)).length;
                return n > 0 && n < 3000;
              });
          } catch {
            return false;
          }
        },
        2,
      );
      expectCompletedOnce(row, staged);
      // The retried step built the whole tree; the killed worker's half tree is left for data gc.
      const complete = readdirSync(trees).filter((t) => !t.endsWith('.tmp'));
      expect(complete).toHaveLength(1);
      expect(readdirSync(join(trees, complete[0]!))).toHaveLength(3000);
      // The local cache (the DVC default .dvc/cache) holds each object once, plus the folder's manifest.
      expectOneCopyEach(join(p.root, '.dvc/cache'), staged.inputs, (f) => f.endsWith('.dir'));
    }, 900_000);
  });

  describe('SLURM', () => {
    const workdir = `reprise-faults-data/${suite}`;
    const p = useCliProject('faults-data-slurm', () => slurmAddArgs('hpc', `~/${workdir}`));
    let ctx: FaultContext;
    let staged: Staged;
    // The test cluster's login node is this machine: its data cache is read directly.
    const home = () => execFileSync('getent', ['passwd', clusterConfig('~').user], { encoding: 'utf8' }).split(':')[5]!;
    const cacheDir = () => join(home(), workdir, 'data-cache');
    beforeAll(async () => {
      ctx = new FaultContext(p.cli, p.root, 'hpc', 'slurm', slurmJobs);
      staged = await trackedProject(p, 300);
    }, 600_000);
    afterAll(async () => {
      await ctx?.close();
      execFileSync('rm', ['-rf', join(home(), workdir)]);
    });

    it('killed while the login node fetches the objects into its cache: the run completes, recorded once, one copy of each object, no .part', async () => {
      const dir = cacheDir();
      const total = new Set([...staged.inputs.values()].map((b) => md5(b))).size;
      const row = await killDuringStaging(
        ctx,
        slurmJobs,
        () => {
          const n = walk(join(dir, 'files/md5')).filter((f) => !f.includes('.part')).length;
          return n > 0 && n < total;
        },
        50,
      );
      expectCompletedOnce(row, staged);
      expectOneCopyEach(dir, staged.inputs);
    }, 900_000);
  });

  describe('Kubernetes', () => {
    const p = useCliProject('faults-data-k8s', () => [...kubernetesAddArgs('k8s', 'reprise-faults'), '--data-endpoint', readInfraEnv('s3', ['S3_POD_ENDPOINT']).S3_POD_ENDPOINT]);
    let ctx: FaultContext;
    let staged: Staged;
    let kube: ReturnType<typeof loadClusterEnv>;
    const kubectl = (...args: string[]) =>
      execFileSync('kubectl', ['--kubeconfig', kube.KUBECONFIG, '--context', kube.K8S_CONTEXT, '-n', kube.K8S_NAMESPACE, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 });
    beforeAll(async () => {
      kube = loadClusterEnv();
      ctx = new FaultContext(p.cli, p.root, 'k8s', 'kubernetes', kubernetesJobs(kube.KUBECONFIG, kube.K8S_NAMESPACE));
      // Enough objects that the pod's fetch (about 500 a second here) lasts long enough to be caught from outside.
      staged = await trackedProject(p, 3000);
    }, 600_000);
    afterAll(async () => ctx?.close());

    it('killed while the pod fetches the objects: the run completes, recorded once, the job sees every byte, no partial object in its volume', async () => {
      const total = new Set([...staged.inputs.values()].map((b) => md5(b))).size;
      let pod = '';
      const row = await killDuringStaging(
        ctx,
        kubernetesJobs(kube.KUBECONFIG, kube.K8S_NAMESPACE),
        (runId) => {
          try {
            // The pod's name once, then one exec a poll: the fetch lasts seconds, a kubectl call a few tenths.
            pod ||= kubectl('get', 'pods', '-l', `reprise.run/id=${runId}`, '-o', 'jsonpath={.items[0].metadata.name}').trim();
            if (!pod) return false;
            // The init container's objects directory, before the sources are marked ready.
            const n = Number(kubectl('exec', pod, '-c', 'sources', '--', 'sh', '-c', 'test -e /project/.reprise-ready && echo -1 || ls /project/.reprise-data 2>/dev/null | grep -vc part').trim());
            return n > 0 && n < total;
          } catch {
            return false;
          }
        },
        100,
        ['collecting', 'succeeded', 'failed', 'cancelled'],
      );
      expectCompletedOnce(row, staged);
    }, 900_000);
  });
});
