// The built CLI running a project with tracked data on the real Kubernetes test cluster, with a
// data cache claim (`backend add --data-cache-claim`): the first run's pod fetches every object
// into the claim, the second run fetches none (the run's own staging account says so), the job
// reads the same bytes both times; a backend naming a claim that does not exist fails the run
// with one line, exit 2. The cluster has no dynamic provisioner: the test makes a hostPath
// PersistentVolume and its claim with the admin kubeconfig and removes them after.
// Needs `test/infra/kubernetes up`, `test/infra/s3 up` and `npm run build`.
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, cliEnv, requireFreshBuild } from '../../helpers/cli.js';
import { BUSYBOX } from '../../helpers/docker.js';
import { readInfraEnv } from '../../helpers/infra.js';
import { tempDir } from '../../helpers/project.js';
import { s3Env } from '../../integration/data/s3-env.js';
import { kubernetesAddArgs, loadClusterEnv, makeCacheClaim, type ClusterEnv } from '../../integration/kubernetes/kubernetes-backend-env.js';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const claim = `reprise-e2e-cache-${suite}`;
const missing = `reprise-e2e-no-claim-${suite}`;
const hostDir = `/tmp/${claim}`;
const inputs = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`input/set/f${String(i).padStart(2, '0')}.bin`, randomBytes(128 * 1024)]));
const total = Object.values(inputs).reduce((n, b) => n + b.length, 0);
const script = 'find input/set -type f -exec md5sum {} + | LC_ALL=C sort -k 2';
const expected = Object.entries(inputs)
  .sort(([a], [b]) => (a < b ? -1 : 1))
  .map(([p, b]) => `${md5(b)}  ${p}`)
  .join('\n');

let env: ClusterEnv;
let cli: Cli;
let home: string;
let root: string;
const temps: string[] = [];
let removeClaim: (() => Promise<void>) | undefined;

async function ok(args: string[], cwd: string): Promise<void> {
  const r = await cli.run(args, cwd);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
}

beforeAll(async () => {
  requireFreshBuild();
  env = loadClusterEnv();
  const s3 = s3Env();
  temps.push(join(s3.credentialsFile, '..'));
  home = await tempDir('reprise-e2e-k8s-cache-home-');
  temps.push(home);
  cli = new Cli({ ...(await cliEnv(home)), AWS_SHARED_CREDENTIALS_FILE: s3.credentialsFile, AWS_PROFILE: 'writer', AWS_REGION: s3.region });
  removeClaim = await makeCacheClaim(env, claim, hostDir);
  const podEndpoint = readInfraEnv('s3', ['S3_POD_ENDPOINT']).S3_POD_ENDPOINT;
  await ok(['backend', 'add', ...kubernetesAddArgs('k8s', 'reprise-it'), '--data-endpoint', podEndpoint, '--data-cache-claim', claim], '/');
  await ok(['backend', 'add', ...kubernetesAddArgs('k8sbad', 'reprise-it'), '--data-endpoint', podEndpoint, '--data-cache-claim', missing], '/');
  const work = await tempDir('reprise-e2e-k8s-cache-');
  temps.push(work);
  await ok(['init', 'kc', '--name', 'kc', '--base', BUSYBOX], work);
  root = join(work, 'kc');
  for (const [path, bytes] of Object.entries(inputs)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), bytes);
  }
  await ok(['data', 'add', 'input/set'], root);
  await ok(['data', 'remote', 'set', `s3://${s3.bucket}/k8s-cache-e2e-${suite}`, '--endpoint', s3.endpoint], root);
  await ok(['data', 'push'], root);
}, 600_000);

afterAll(async () => {
  await cli?.run(['agent', 'stop'], root ?? '/');
  await removeClaim?.();
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
}, 120_000);

/** One attached run on `backend`: its exit, output and, when recorded, what its staging moved (the worker's data-staged.json). */
async function runOn(backend: string): Promise<{ code: number; stdout: string; stderr: string; staged?: unknown; seconds: number }> {
  const started = Date.now();
  const r = await cli.run(['run', '--on', backend, '--', 'sh', '-c', script], root);
  const seconds = (Date.now() - started) / 1000;
  if (r.code !== 0) return { ...r, seconds };
  const [entry] = await cli.json<{ runId: string }[]>(['log', '-n', '1'], root);
  return { ...r, seconds, staged: JSON.parse(await readFile(join(home, 'runs', entry!.runId, 'data-staged.json'), 'utf8')) };
}

describe('a data cache claim on Kubernetes through the built CLI', () => {
  it('the first run fetches every object into the claim, the second fetches none; the job reads the same bytes', async () => {
    const first = await runOn('k8s');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(expected);
    expect(first.staged).toEqual({ fetched: 40, fetchedBytes: total, shipped: 0, shippedBytes: 0, cached: 0 });
    const second = await runOn('k8s');
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain(expected);
    expect(second.staged).toEqual({ fetched: 0, fetchedBytes: 0, shipped: 0, shippedBytes: 0, cached: 40 });
    console.log(`built CLI, 40 files, ${(total / 2 ** 20).toFixed(1)} MiB: first run ${first.seconds.toFixed(1)} s, second ${second.seconds.toFixed(1)} s`);
  }, 600_000);

  it('a backend naming a claim that does not exist fails the run with one line naming it, exit 2', async () => {
    const started = Date.now();
    const r = await runOn('k8sbad');
    expect(r.code, r.stdout).toBe(2);
    expect(r.stderr).toContain(`the data cache claim ${missing} (this backend's dataCacheClaim) does not exist in namespace ${env.K8S_NAMESPACE}: create that PersistentVolumeClaim there (Reprise never makes one), or remove dataCacheClaim from this backend`);
    expect(r.stderr.trim().split('\n').filter((l) => l.includes(missing))).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(120_000);
  }, 300_000);
});
