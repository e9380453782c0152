// With a data cache claim on the REAL Kubernetes test cluster and the REAL object store
// (SeaweedFS, test/infra/s3), a tracked folder is read by the job straight from the claim: the
// first run's pod fetches its objects and builds the folder's tree of hard links once
// (trees/<manifest md5>), the job mounts it read-only (a subPath), and the files it reads are the
// claim's own inodes (no copy in the pod's volume); a second run fetches nothing and builds
// nothing; a job cannot write into the folder; a new version of the folder gets a new tree; two
// pods building one tree at once leave one whole tree; a tree missing when the command would start
// fails the pod instead of showing the job an empty folder; a run without tracked data does not
// mount the claim at all. The claim is a hostPath volume on the one node (this machine), so the
// test reads it directly. Needs `test/infra/kubernetes up` and `test/infra/s3 up`.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stageDataFor } from '../../../src/activities/data-staging.js';
import { execInPod } from '../../../src/backends/kubernetes/cluster.js';
import { INIT_CONTAINER, jobManifest, jobName, MAIN_CONTAINER, READY_FILE } from '../../../src/backends/kubernetes/job-manifest.js';
import { KubernetesBackend } from '../../../src/backends/kubernetes/kubernetes-backend.js';
import type { DataFolder, DataStaged, JobHandle, JobStatus } from '../../../src/backends/types.js';
import { manifestMd5 } from '../../../src/data/format.js';
import type { RunInputFile } from '../../../src/data/run-data.js';
import { pushCachedObjects } from '../../../src/data/run-data.js';
import { setDataRemote } from '../../../src/data/store/remote.js';
import { dockerClient } from '../../../src/images/engine.js';
import { readInfraEnv } from '../../helpers/infra.js';
import { tempDir } from '../../helpers/project.js';
import { s3Env } from '../data/s3-env.js';
import { cachedInputs, md5Listing, sourcesWith } from '../data/tracked-inputs.js';
import { adminClients, awaitedStatus, backendConfig, buildTestImage, loadClusterEnv, makeCacheClaim, type ClusterEnv } from './kubernetes-backend-env.js';

const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const tag = `reprise/k8s-tree-it-${suite}:latest`;
const claim = `reprise-tree-${suite}`;
const hostDir = `/tmp/${claim}`;
/**
 * Every input's md5, then the inodes of one folder file and of the single file as the job sees
 * them. stat's complaint about a file a run lacks is dropped: the pod's stderr is a second pipe,
 * and its line can land in the middle of stdout's listing in the log.
 */
const listing = ['sh', '-c', 'find input -type f -exec md5sum {} + | LC_ALL=C sort -k 2; echo "inodes $(stat -c %i input/set/f000.bin 2>/dev/null) $(stat -c %i input/table.bin 2>/dev/null)"'];
let env: ClusterEnv;
let podEndpoint: string;
let digest: string;
let root: string;
let setFiles: RunInputFile[];
let table: RunInputFile;
const temps: string[] = [];
let removeClaim: (() => Promise<void>) | undefined;
const made: { backend: KubernetesBackend; handle: JobHandle }[] = [];
const podStaged = new Map<string, DataStaged>();
const hooks = { onDataStaged: (runId: string, s: DataStaged) => podStaged.set(runId, s) };
const backend = (over = {}) => new KubernetesBackend(backendConfig(env, { dataEndpoint: podEndpoint, dataCacheClaim: claim, ...over }), dockerClient(), hooks);
const runIdOf = (name: string) => `kt${suite}${name}`;

/** A tracked folder of `files` (project paths under `path`): its manifest md5 as DVC computes it. */
const folderOf = (path: string, files: RunInputFile[]): DataFolder => ({ path, md5: manifestMd5(files.map((f) => ({ md5: f.md5, relpath: f.path.slice(path.length + 1) }))) });
const treeDir = (folder: DataFolder) => join(hostDir, 'trees', folder.md5.replace(/\.dir$/, ''));
const objectOf = (md5: string) => join(hostDir, 'files', 'md5', md5.slice(0, 2), md5.slice(2));
/** The claim's trees, and anything half-built beside them. */
const trees = () => readdirSync(join(hostDir, 'trees')).sort();
const stamp = (p: string) => (({ ino, mtimeMs }) => `${ino}@${mtimeMs}`)(statSync(p));

async function waitExited(kube: KubernetesBackend, handle: JobHandle): Promise<JobStatus> {
  for (let i = 0; ; i++) {
    const s = await awaitedStatus(kube, handle);
    if (s.phase === 'exited' || s.phase === 'lost' || i > 600) return s;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Stage, submit and follow one run to its end: its log, exit, what its pod staged and the Job's pod spec. */
async function run(kube: KubernetesBackend, name: string, inputs: RunInputFile[], folders: DataFolder[], command = listing) {
  const runId = runIdOf(name);
  const sourcesDir = join(await tempDir('reprise-k8s-tree-src-'), 'src');
  temps.push(join(sourcesDir, '..'));
  const staging = await stageDataFor(root, inputs, { info: () => undefined, warn: () => undefined }, undefined, folders);
  try {
    const staged = await kube.stage({ runId, image: { digest, tag }, sourcesDir: await sourcesWith(sourcesDir, root, inputs), readOnly: ['input'], data: staging.data });
    const handle = await kube.submit({ runId, command, env: {}, resources: {}, staged });
    made.push({ backend: kube, handle });
    let log = '';
    for await (const chunk of (await kube.logs(handle)) as Readable) log += String(chunk);
    const status = await waitExited(kube, handle);
    const job = await adminClients(env).batch.readNamespacedJob({ name: handle.jobId, namespace: env.K8S_NAMESPACE });
    return { log, status, staged: podStaged.get(runId), pod: job.spec!.template.spec! };
  } finally {
    staging.close();
  }
}

const inodesLine = (log: string) => /^inodes (\d+) (\d+)$/m.exec(log)?.slice(1).map(Number);
const listingOf = (log: string) => log.replace(/^inodes .*\n/m, '');

beforeAll(async () => {
  env = loadClusterEnv();
  const s3 = s3Env();
  temps.push(join(s3.credentialsFile, '..'));
  podEndpoint = readInfraEnv('s3', ['S3_POD_ENDPOINT']).S3_POD_ENDPOINT;
  Object.assign(process.env, s3.writerEnv);
  digest = buildTestImage(tag);
  root = await tempDir('reprise-k8s-tree-root-');
  temps.push(root);
  // A folder of 300 files in subfolders (a name with a space among them), and one single file.
  setFiles = await cachedInputs(root, {
    ...Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`input/set/${i < 100 ? '' : `d${Math.floor(i / 100)}/`}f${String(i).padStart(3, '0')}.bin`, randomBytes(16 * 1024 + i)])),
    'input/set/with space.txt': Buffer.from(`spaced ${suite}\n`),
  });
  table = (await cachedInputs(root, { 'input/table.bin': randomBytes(2 * 2 ** 20) }))[0]!;
  await setDataRemote(root, `s3://${s3.bucket}/k8s-tree-${suite}`, s3.endpoint);
  await pushCachedObjects(root, [...setFiles, table!]);
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

describe('tracked data read from the data cache claim in place', () => {
  it('run 1 fetches and builds the tree, run 2 fetches and builds nothing; the job reads the claim\'s own files, read-only, every byte right', async () => {
    const folder = folderOf('input/set', setFiles);
    const inputs = [...setFiles, table!];
    const kube = backend();
    const first = await run(kube, 'one', inputs, [folder]);
    expect(first.status).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(listingOf(first.log)).toBe(md5Listing(inputs));
    expect(first.staged).toEqual({ fetched: inputs.length, fetchedBytes: inputs.reduce((n, f) => n + f.size, 0), shipped: 0, shippedBytes: 0, cached: 0 });
    // One whole tree, of hard links to the claim's objects; nothing half-built left beside it.
    expect(trees()).toEqual([folder.md5.replace(/\.dir$/, '')]);
    for (const f of setFiles) expect(statSync(join(treeDir(folder), f.path.slice('input/set/'.length))).ino, f.path).toBe(statSync(objectOf(f.md5)).ino);
    // The job read those very inodes (the folder's tree and the single file's object): no copy in the pod.
    const f000 = setFiles.find((f) => f.path === 'input/set/f000.bin')!;
    expect(inodesLine(first.log)).toEqual([statSync(objectOf(f000.md5)).ino, statSync(objectOf(table!.md5)).ino]);
    // The command's container mounts just those, read-only; the claim whole only in the init container.
    const main = first.pod.containers.find((c) => c.name === MAIN_CONTAINER)!;
    expect(main.volumeMounts!.filter((m) => m.name === 'data-cache')).toEqual([
      { name: 'data-cache', mountPath: '/project/input/set', subPath: `trees/${folder.md5.replace(/\.dir$/, '')}`, readOnly: true },
      { name: 'data-cache', mountPath: '/project/input/table.bin', subPath: `files/md5/${table!.md5.slice(0, 2)}/${table!.md5.slice(2)}`, readOnly: true },
    ]);

    const kept = stamp(treeDir(folder));
    const objects = inputs.map((f) => stamp(objectOf(f.md5)));
    const second = await run(kube, 'two', inputs, [folder]);
    expect(second.status).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(listingOf(second.log)).toBe(md5Listing(inputs));
    expect(second.staged).toEqual({ fetched: 0, fetchedBytes: 0, shipped: 0, shippedBytes: 0, cached: inputs.length });
    expect(stamp(treeDir(folder))).toBe(kept);
    expect(inputs.map((f) => stamp(objectOf(f.md5)))).toEqual(objects);
    expect(trees()).toEqual([folder.md5.replace(/\.dir$/, '')]);
    console.log(`tree of ${setFiles.length} files + 1 single file from the claim: run 1 staged ${JSON.stringify(first.staged)}, run 2 ${JSON.stringify(second.staged)}`);
  }, 900_000);

  it('a job writing into the tracked folder or over the single file fails (read-only); the next run still reads the right bytes', async () => {
    const folder = folderOf('input/set', setFiles);
    const inputs = [...setFiles, table!];
    const kube = backend();
    const write = await run(kube, 'write', inputs, [folder], ['sh', '-c', 'echo x > input/set/new.txt; a=$?; echo x >> input/set/f000.bin; b=$?; rm -f input/set/f001.bin; c=$?; echo x > input/table.bin; d=$?; echo "rc $a $b $c $d"; [ $a$b$c$d = 0000 ] && exit 0; exit 3']);
    expect(write.status).toMatchObject({ phase: 'exited', exitCode: 3 });
    expect(write.log).not.toMatch(/rc .*\b0\b/);
    const after = await run(kube, 'afterwrite', inputs, [folder]);
    expect(after.status).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(listingOf(after.log)).toBe(md5Listing(inputs));
  }, 600_000);

  it('a new version of the folder gets a new tree beside the old one; two pods building it at once leave one whole tree', async () => {
    const old = folderOf('input/set', setFiles);
    const [changed] = await cachedInputs(root, { 'input/set/f005.bin': randomBytes(5000) });
    await pushCachedObjects(root, [changed!]);
    const files2 = setFiles.map((f) => (f.path === changed!.path ? changed! : f));
    const folder2 = folderOf('input/set', files2);
    expect(folder2.md5).not.toBe(old.md5);
    const oldStamp = stamp(treeDir(old));
    const [a, b] = await Promise.all([run(backend(), 'v2a', files2, [folder2]), run(backend(), 'v2b', files2, [folder2])]);
    for (const r of [a, b]) {
      expect(r.status).toMatchObject({ phase: 'exited', exitCode: 0 });
      expect(r.log).toContain(md5Listing(files2));
      expect(r.staged!.fetched + r.staged!.cached).toBe(files2.length);
    }
    // Only the changed object was fetched (by one pod or both); the rest were in the claim.
    expect(a.staged!.fetched).toBeLessThanOrEqual(1);
    expect(b.staged!.fetched).toBeLessThanOrEqual(1);
    expect(trees()).toEqual([old.md5, folder2.md5].map((m) => m.replace(/\.dir$/, '')).sort());
    expect(stamp(treeDir(old))).toBe(oldStamp);
    expect(readdirSync(treeDir(folder2), { recursive: true }).filter((p) => statSync(join(treeDir(folder2), String(p))).isFile()).length).toBe(files2.length);
    expect(statSync(join(treeDir(folder2), 'f005.bin')).ino).toBe(statSync(objectOf(changed!.md5)).ino);
  }, 900_000);

  it('a tree missing from the claim when the command would start fails the pod: the job never sees an empty folder', async () => {
    const runId = runIdOf('missing');
    const { batch } = adminClients(env);
    const kube = backend();
    // The image as the nodes pull it: pushed by a stage with no data.
    const sourcesDir = join(await tempDir('reprise-k8s-tree-src-'), 'src');
    temps.push(join(sourcesDir, '..'));
    const { image } = await kube.stage({ runId, image: { digest, tag }, sourcesDir: await sourcesWith(sourcesDir, root, []) });
    const spec = { runId, command: ['sh', '-c', 'ls -A input/set; echo SHOULD-NOT-RUN'], env: {}, resources: {}, staged: { image, sources: '/nonexistent' } };
    const absent = 'trees/00000000000000000000000000000000';
    await batch.createNamespacedJob({ namespace: env.K8S_NAMESPACE, body: jobManifest(spec, { namespace: env.K8S_NAMESPACE, dataCacheClaim: claim, dataMounts: [{ path: 'input/set', source: absent }] }) });
    const handle = { kind: 'kubernetes', runId, jobId: jobName(runId), namespace: env.K8S_NAMESPACE, sources: '/nonexistent', timeSeconds: null } as JobHandle;
    made.push({ backend: kube, handle });
    // Play the worker's part: say the sources are in, as an upload would.
    const { kc, core } = adminClients(env);
    for (let i = 0; ; i++) {
      const pods = await core.listNamespacedPod({ namespace: env.K8S_NAMESPACE, labelSelector: `batch.kubernetes.io/job-name=${handle.jobId}` });
      const pod = pods.items[0];
      if (pod?.status?.initContainerStatuses?.[0]?.state?.running) {
        const touched = await execInPod(kc, { namespace: env.K8S_NAMESPACE, pod: pod.metadata!.name!, container: INIT_CONTAINER }, ['touch', READY_FILE]);
        expect(touched.exitCode).toBe(0);
        break;
      }
      if (i > 480) throw new Error(`the pod never started its init container: ${JSON.stringify(pod?.status ?? 'no pod')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const status = await waitExited(kube, handle);
    expect(status).toMatchObject({ phase: 'exited', exitCode: 1 });
    expect(status.reason).toMatch(/init container exited 1/);
    expect(existsIn(hostDir, absent)).toBe(false);
  }, 600_000);

  it('a run without tracked data does not mount the claim: it runs even on a backend whose claim does not exist', async () => {
    const kube = backend({ dataCacheClaim: `reprise-no-such-claim-${suite}` });
    const plain = await run(kube, 'nodata', [], [], ['sh', '-c', 'echo plain']);
    expect(plain.status).toMatchObject({ phase: 'exited', exitCode: 0 });
    expect(plain.log).toBe('plain\n');
    expect(plain.pod.volumes!.map((v) => v.name)).not.toContain('data-cache');
  }, 600_000);
});

const existsIn = (dir: string, rel: string) => {
  try {
    statSync(join(dir, rel));
    return true;
  } catch {
    return false;
  }
};
