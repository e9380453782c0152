// Interop with real DVC (PyPI `dvc`, `dvc-s3`), on every backend: a project whose data was
// tracked with `dvc add` and pushed to the real object store with `dvc push` is cloned by Reprise
// (`reprise clone`, no `data pull`) and run on Docker, on the SLURM test cluster and on the
// Kubernetes test cluster; each job sees the inputs byte-identical, the clusters fetching DVC's
// objects from the store by digest (not shipped from this machine).
// Needs `test/infra/s3 up`, `test/infra/slurm up`, `test/infra/kubernetes up` and `npm run build`.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_STAGED } from '../../../src/config/env.js';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import { Cli, cliEnv, requireFreshBuild } from '../../helpers/cli.js';
import { BUSYBOX } from '../../helpers/docker.js';
import { readInfraEnv } from '../../helpers/infra.js';
import { git, tempDir } from '../../helpers/project.js';
import { bareRemote } from '../../helpers/sync.js';
import { s3Env, type S3Env } from '../../integration/data/s3-env.js';
import { kubernetesAddArgs } from '../../integration/kubernetes/kubernetes-backend-env.js';
import { clusterConfig, slurmAddArgs } from '../../integration/slurm/slurm-backend-env.js';

const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const dvcBin = [join(homedir(), '.local/bin/dvc'), '/usr/local/bin/dvc', '/usr/bin/dvc'].find(existsSync);
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
const inputs: Record<string, Buffer> = {
  'input/table.bin': randomBytes(2_500_000),
  'input/set/a.txt': Buffer.from(`a ${suite}\n`),
  'input/set/sub/b.bin': randomBytes(400_000),
  'input/set/sub/with space.bin': randomBytes(30_000),
};
const JOB = ['sh', '-c', 'find input -type f ! -name "*.dvc" ! -name .gitignore -exec md5sum {} + | LC_ALL=C sort -k 2'];
const expected = Object.entries(inputs)
  .sort(([a], [b]) => (a < b ? -1 : 1))
  .map(([p, b]) => `${md5(b)}  ${p}`)
  .join('\n');

let s3: S3Env;
let cli: Cli;
let home: string;
let clone: string;

function dvc(cwd: string, ...args: string[]): string {
  return execFileSync(dvcBin!, args, { cwd, encoding: 'utf8', env: { ...cli.env, DVC_NO_ANALYTICS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function ok(args: string[], cwd: string): Promise<string> {
  const r = await cli.run(args, cwd);
  expect(r.code, `reprise ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  requireFreshBuild();
  if (!dvcBin) throw new Error('dvc is not installed: pip install --user dvc dvc-s3 (scripts/test-all.sh does)');
  s3 = s3Env();
  home = await tempDir('reprise-e2e-dvc-clusters-home-');
  cli = new Cli({ ...(await cliEnv(home)), AWS_SHARED_CREDENTIALS_FILE: s3.credentialsFile, AWS_PROFILE: 'writer', AWS_REGION: s3.region });
  await ok(['backend', 'add', ...slurmAddArgs('hpc', `~/reprise-it/e2e-dvc-${suite}`)], '/');
  await ok(['backend', 'add', ...kubernetesAddArgs('k8s', 'reprise-it'), '--data-endpoint', readInfraEnv('s3', ['S3_POD_ENDPOINT']).S3_POD_ENDPOINT], '/');

  // The DVC user's side: dvc add, dvc push, git push; Reprise is not involved.
  const work = await tempDir('reprise-e2e-dvc-clusters-');
  await ok(['init', 'fromdvc', '--name', 'fromdvc', '--base', BUSYBOX], work);
  const root = join(work, 'fromdvc');
  for (const [path, bytes] of Object.entries(inputs)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), bytes);
  }
  dvc(root, 'init');
  dvc(root, 'remote', 'add', '-d', 'lab', `s3://${s3.bucket}/e2e-dvc-clusters-${suite}`);
  dvc(root, 'remote', 'modify', 'lab', 'endpointurl', s3.endpoint);
  dvc(root, 'add', 'input/table.bin', 'input/set');
  dvc(root, 'push');
  git(root, 'add', '-A');
  git(root, 'commit', '-qm', 'data with dvc');
  const remote = await bareRemote();
  git(root, 'remote', 'add', 'origin', remote);
  git(root, 'push', '-q', 'origin', 'HEAD:main');

  // A collaborator's clean clone: pointers only, an empty local cache and no `data pull`: the
  // first run fetches what it reads from the store into the local cache itself.
  await ok(['clone', remote, 'fromdvc-reprise'], work);
  clone = join(work, 'fromdvc-reprise');
}, 600_000);

afterAll(async () => {
  await cli?.run(['agent', 'stop'], clone);
  const cluster = new SlurmBackend(clusterConfig('~'));
  await cluster.ssh.exec(['sh', '-c', 'chmod -R u+w "$HOME/reprise-it/$1" 2>/dev/null; rm -rf "$HOME/reprise-it/$1"', 'sh', `e2e-dvc-${suite}`]).catch(() => undefined);
  cluster.close();
});

async function runOn(backend: string): Promise<{ stdout: string; runId: string; staged?: unknown }> {
  const r = await cli.run(['run', '--on', backend, '--', ...JOB], clone);
  expect(r.code, `run --on ${backend}: ${r.stderr}`).toBe(0);
  const [entry] = await cli.json<{ runId: string }[]>(['log', '-n', '1'], clone);
  const stagedFile = join(home, 'runs', entry!.runId, DATA_STAGED);
  return { stdout: r.stdout, runId: entry!.runId, staged: existsSync(stagedFile) ? JSON.parse(await readFile(stagedFile, 'utf8')) : undefined };
}

describe('a project made with dvc add + dvc push, cloned by Reprise', () => {
  const total = Object.values(inputs).reduce((n, b) => n + b.length, 0);

  it('runs on SLURM: the login node fetches DVC\'s objects from the store, the job sees them byte-identical', async () => {
    const run = await runOn('hpc');
    expect(run.stdout).toContain(expected);
    expect(run.staged).toEqual({ fetched: 4, fetchedBytes: total, shipped: 0, shippedBytes: 0, cached: 0 });
    const record = await cli.json<{ data: { inputs: { path: string; md5: string }[] } }>(['show', run.runId], clone);
    expect(record.data.inputs.map((i) => i.path)).toEqual(['input/set', 'input/table.bin']);
  });

  it('runs on Kubernetes: the pod fetches DVC\'s objects from the store, the job sees them byte-identical', async () => {
    const run = await runOn('k8s');
    expect(run.stdout).toContain(expected);
    expect(run.staged).toEqual({ fetched: 4, fetchedBytes: total, shipped: 0, shippedBytes: 0, cached: 0 });
  });

  it('runs on Docker, byte-identical', async () => {
    const run = await runOn('local');
    expect(run.stdout).toContain(expected);
  });
});
