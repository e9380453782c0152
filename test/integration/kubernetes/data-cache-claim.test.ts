// The data cache claim (`dataCacheClaim`) on the REAL Kubernetes test cluster with the REAL object
// store (SeaweedFS, test/infra/s3): ~50 MiB of tracked inputs in 200 files; the first run's pod
// fetches every object into the claim (DVC's files/md5/xx/rest layout), the second identical run
// fetches none (the backend's account and the store gateway's I/O counters say so) and the job
// reads the same bytes; two pods filling the claim at once leave one good copy of each object and
// nothing half-written; a claim that does not exist fails the submit with one line instead of a
// pod Pending forever. The cluster has no dynamic provisioner: the test makes a hostPath
// PersistentVolume and its claim with the admin kubeconfig and removes them after.
// Needs `test/infra/kubernetes up` and `test/infra/s3 up`.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobManifest, jobName } from '../../../src/backends/kubernetes/job-manifest.js';
import { KubernetesBackend } from '../../../src/backends/kubernetes/kubernetes-backend.js';
import type { DataStaged, JobHandle } from '../../../src/backends/types.js';
import type { RunInputFile } from '../../../src/data/run-data.js';
import { pushCachedObjects } from '../../../src/data/run-data.js';
import { setDataRemote } from '../../../src/data/store/remote.js';
import { dockerClient } from '../../../src/images/engine.js';
import { ErrorKind, RepriseError } from '../../../src/errors.js';
import { repoRoot } from '../../helpers/cli.js';
import { readInfraEnv } from '../../helpers/infra.js';
import { tempDir } from '../../helpers/project.js';
import { s3Env } from '../data/s3-env.js';
import { cachedInputs, countedStaging, md5Listing, sourcesWith } from '../data/tracked-inputs.js';
import { adminClients, backendConfig, buildTestImage, loadClusterEnv, makeCacheClaim, type ClusterEnv } from './kubernetes-backend-env.js';

const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const tag = `reprise/k8s-cache-it-${suite}:latest`;
const claim = `reprise-cache-${suite}`;
const hostDir = `/tmp/${claim}`;
const MiB = 2 ** 20;
const command = ['sh', '-c', 'find input -type f -exec md5sum {} + | LC_ALL=C sort -k 2'];
let env: ClusterEnv;
let podEndpoint: string;
let digest: string;
let root: string;
let files: RunInputFile[];
const temps: string[] = [];
let removeClaim: (() => Promise<void>) | undefined;
const made: { backend: KubernetesBackend; handle: JobHandle }[] = [];
const podStaged = new Map<string, DataStaged>();
const hooks = { onDataStaged: (runId: string, s: DataStaged) => podStaged.set(runId, s) };
const backend = (over = {}) => new KubernetesBackend(backendConfig(env, { dataEndpoint: podEndpoint, dataCacheClaim: claim, ...over }), dockerClient(), hooks);
const runIdOf = (name: string) => `kc${suite}${name}`;

/** Bytes the store's S3 gateway process wrote (its /proc io counter): machine-wide, every user of the store counts. */
function gatewayWrote(): number {
  const pid = readFileSync(join(repoRoot, 'test/infra/.state/s3/pids/s3.pid'), 'utf8').trim().split(/\s+/)[0];
  return Number(/^wchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]);
}

/** Stage, submit and follow one run to its end; its log, what the pod's staging moved and how long it all took. */
async function run(kube: KubernetesBackend, name: string, inputs: RunInputFile[]): Promise<{ log: string; staged?: DataStaged; seconds: number }> {
  const runId = runIdOf(name);
  const started = Date.now();
  const sourcesDir = join(await tempDir('reprise-k8s-cache-src-'), 'src');
  temps.push(join(sourcesDir, '..'));
  const staging = await countedStaging(root, inputs);
  try {
    const staged = await kube.stage({ runId, image: { digest, tag }, sourcesDir: await sourcesWith(sourcesDir, root, inputs), readOnly: ['input'], data: staging.data });
    const handle = await kube.submit({ runId, command, env: {}, resources: {}, staged });
    made.push({ backend: kube, handle });
    let log = '';
    for await (const chunk of (await kube.logs(handle)) as Readable) log += String(chunk);
    return { log, staged: podStaged.get(runId), seconds: (Date.now() - started) / 1000 };
  } finally {
    staging.close();
  }
}

/** The claim's files under files/md5, as xx/rest paths. */
const claimObjects = () => readdirSync(join(hostDir, 'files', 'md5'), { recursive: true, encoding: 'utf8' }).filter((p) => statSync(join(hostDir, 'files', 'md5', p)).isFile()).sort();
/** Each object in the claim → its inode and mtime: a fetch again would rename a new file over it. */
const claimStamps = () => Object.fromEntries(claimObjects().map((p) => [p, (({ ino, mtimeMs }) => `${ino}@${mtimeMs}`)(statSync(join(hostDir, 'files', 'md5', p)))]));
const layoutOf = (fs: RunInputFile[]) => [...new Set(fs.map((f) => `${f.md5.slice(0, 2)}/${f.md5.slice(2)}`))].sort();
const bytesOf = (fs: RunInputFile[]) => fs.reduce((n, f) => n + f.size, 0);

beforeAll(async () => {
  env = loadClusterEnv();
  const s3 = s3Env();
  temps.push(join(s3.credentialsFile, '..'));
  podEndpoint = readInfraEnv('s3', ['S3_POD_ENDPOINT']).S3_POD_ENDPOINT;
  Object.assign(process.env, s3.writerEnv);
  digest = buildTestImage(tag);
  root = await tempDir('reprise-k8s-cache-root-');
  temps.push(root);
  // 200 files of 256 KiB: 50 MiB.
  files = await cachedInputs(root, Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`input/set/f${String(i).padStart(3, '0')}.bin`, randomBytes(256 * 1024)])));
  await setDataRemote(root, `s3://${s3.bucket}/k8s-cache-${suite}`, s3.endpoint);
  await pushCachedObjects(root, files);
  // A hostPath volume on the one node (this machine), writable by the pods' uid as a site's NFS export would be.
  removeClaim = await makeCacheClaim(env, claim, hostDir);
}, 600_000);

afterAll(async () => {
  for (const { backend: b, handle } of made) await b.cleanup(handle).catch(() => undefined);
  await removeClaim?.();
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
  try {
    execFileSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
}, 120_000);

describe('a data cache claim on Kubernetes', () => {
  it('the first run fetches 200 objects (50 MiB) into the claim; the second identical run fetches none, reads the same bytes', async () => {
    const kube = backend();
    const before1 = gatewayWrote();
    const first = await run(kube, 'one', files);
    const wrote1 = gatewayWrote() - before1;
    const kept = claimStamps();
    const before2 = gatewayWrote();
    const second = await run(kube, 'two', files);
    const wrote2 = gatewayWrote() - before2;
    console.log(
      `data cache claim, ${files.length} files, ${(bytesOf(files) / MiB).toFixed(1)} MiB: first run ${first.seconds.toFixed(1)} s (store gateway wrote ${(wrote1 / MiB).toFixed(1)} MiB), second run ${second.seconds.toFixed(1)} s (gateway wrote ${(wrote2 / MiB).toFixed(2)} MiB)`,
    );
    expect(first.log).toBe(md5Listing(files));
    expect(second.log).toBe(md5Listing(files));
    expect(first.staged).toEqual({ fetched: files.length, fetchedBytes: bytesOf(files), shipped: 0, shippedBytes: 0, cached: 0 });
    expect(second.staged).toEqual({ fetched: 0, fetchedBytes: 0, shipped: 0, shippedBytes: 0, cached: files.length });
    // The store's gateway served at least the first run's bytes. Its counter is machine-wide (other
    // users of the store count), so the second run's "none" is shown on the cluster's side: every
    // object in the claim is the same file (inode, mtime) the first run left.
    expect(wrote1).toBeGreaterThanOrEqual(bytesOf(files));
    expect(claimStamps()).toEqual(kept);
    // One read-only copy of each object, in DVC's cache layout; nothing half-written.
    expect(claimObjects()).toEqual(layoutOf(files));
    for (const p of claimObjects()) expect(statSync(join(hostDir, 'files', 'md5', p)).mode & 0o222, p).toBe(0);
  }, 600_000);

  it('two pods filling the claim with the same new objects at once both read good bytes; one copy of each object is left, no part', async () => {
    const fresh = await cachedInputs(root, Object.fromEntries(Array.from({ length: 24 }, (_, i) => [`input/more/g${String(i).padStart(2, '0')}.bin`, randomBytes(MiB)])));
    await pushCachedObjects(root, fresh);
    const [a, b] = await Promise.all([run(backend(), 'para', fresh), run(backend(), 'parb', fresh)]);
    console.log(`two pods at once, ${fresh.length} new objects: pod a fetched ${a.staged?.fetched} and found ${a.staged?.cached}, pod b fetched ${b.staged?.fetched} and found ${b.staged?.cached}`);
    for (const r of [a, b]) {
      expect(r.log).toBe(md5Listing(fresh));
      expect(r.staged!.fetched + r.staged!.cached).toBe(fresh.length);
      expect(r.staged!.shipped).toBe(0);
    }
    expect(a.staged!.fetched + b.staged!.fetched).toBeGreaterThanOrEqual(fresh.length);
    const left = claimObjects();
    for (const o of layoutOf(fresh)) expect(left).toContain(o);
    expect(left.filter((p) => p.includes('.part.'))).toEqual([]);
  }, 600_000);

  it('a claim that does not exist fails the submit with one line naming it; no Job is left waiting', async () => {
    const missing = `reprise-no-such-claim-${suite}`;
    const kube = backend({ dataCacheClaim: missing });
    const runId = runIdOf('missing');
    const sourcesDir = join(await tempDir('reprise-k8s-cache-src-'), 'src');
    temps.push(join(sourcesDir, '..'));
    const staging = await countedStaging(root, files.slice(0, 3));
    const staged = await kube.stage({ runId, image: { digest, tag }, sourcesDir: await sourcesWith(sourcesDir, root, files.slice(0, 3)), readOnly: ['input'], data: staging.data });
    staging.close();
    const started = Date.now();
    const err = await kube.submit({ runId, command, env: {}, resources: {}, staged }).catch((e: unknown) => e);
    if (!(err instanceof Error)) made.push({ backend: kube, handle: err as JobHandle });
    expect(err).toBeInstanceOf(RepriseError);
    expect((err as RepriseError).kind).toBe(ErrorKind.badInput);
    expect((err as RepriseError).message).toBe(
      `the data cache claim ${missing} (this backend's dataCacheClaim) does not exist in namespace ${env.K8S_NAMESPACE}: create that PersistentVolumeClaim there (Reprise never makes one), or remove dataCacheClaim from this backend`,
    );
    expect(Date.now() - started).toBeLessThan(30_000);
    const handle = { kind: 'kubernetes', runId, jobId: `reprise-${runId}`, namespace: env.K8S_NAMESPACE, sources: staged.sources, timeSeconds: null } as JobHandle;
    expect(await kube.status(handle)).toMatchObject({ phase: 'lost' });
    await kube.cleanup(handle);
  }, 120_000);

  it('a Job already made with a claim that does not exist (queued past submit) is told by status() as never starting, the same line', async () => {
    const missing = `reprise-no-such-claim-${suite}`;
    const kube = backend({ dataCacheClaim: missing });
    const runId = runIdOf('queued');
    const spec = { runId, command, env: {}, resources: {}, staged: { image: tag, sources: '/nonexistent' } };
    await adminClients(env).batch.createNamespacedJob({ namespace: env.K8S_NAMESPACE, body: jobManifest(spec, { namespace: env.K8S_NAMESPACE, dataCacheClaim: missing }) });
    const handle = { kind: 'kubernetes', runId, jobId: jobName(runId), namespace: env.K8S_NAMESPACE, sources: '/nonexistent', timeSeconds: null } as JobHandle;
    made.push({ backend: kube, handle });
    let status = await kube.status(handle);
    for (let i = 0; i < 60 && !status.never; i++) {
      await new Promise((r) => setTimeout(r, 500));
      status = await kube.status(handle);
    }
    expect(status).toEqual({
      phase: 'pending',
      never: true,
      misconfigured: true,
      reason: `the data cache claim ${missing} (this backend's dataCacheClaim) does not exist in namespace ${env.K8S_NAMESPACE}: create that PersistentVolumeClaim there (Reprise never makes one), or remove dataCacheClaim from this backend`,
    });
  }, 120_000);
});
