// Tracked inputs and large outputs moved by digest between a pod on the REAL Kubernetes test
// cluster and the REAL object store (SeaweedFS, test/infra/s3): the pod fetches the inputs by
// presigned URL (busybox wget) at the address pods reach the store at, verifies each, and sees
// input/ exactly as a Docker job does; the sources archive carries none of it; bad bytes are
// refused; a pod with no route gets the objects from the worker; outputs above the threshold
// land in the store, only their pointers come back. Needs `test/infra/kubernetes up` and `test/infra/s3 up`.
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outputStoreFor, stageDataFor } from '../../../src/activities/data-staging.js';
import { DockerBackend } from '../../../src/backends/docker/docker-backend.js';
import { KubernetesBackend } from '../../../src/backends/kubernetes/kubernetes-backend.js';
import type { Backend, DataStaged, JobHandle, JobStatus, StageData } from '../../../src/backends/types.js';
import { parsePointer } from '../../../src/data/format.js';
import type { RunInputFile } from '../../../src/data/run-data.js';
import { objectKey } from '../../../src/data/store/location.js';
import { setDataRemote } from '../../../src/data/store/remote.js';
import { pushCachedObjects } from '../../../src/data/run-data.js';
import { dockerClient } from '../../../src/images/engine.js';
import { RepriseError } from '../../../src/errors.js';
import { readInfraEnv } from '../../helpers/infra.js';
import { tempDir } from '../../helpers/project.js';
import { s3Env, type S3Env } from '../data/s3-env.js';
import { cachedInputs, countedStaging, md5Listing, sourcesWith } from '../data/tracked-inputs.js';
import { awaitedStatus, backendConfig, buildTestImage, loadClusterEnv, makeCacheClaim, type ClusterEnv } from './kubernetes-backend-env.js';

const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const tag = `reprise/k8s-data-it-${suite}:latest`;
let env: ClusterEnv;
let kube: KubernetesBackend;
let podEndpoint: string;
const handles: { backend: Backend; handle: JobHandle }[] = [];
let s3: S3Env;
let raw: S3Client;
let root: string;
let digest: string;
let files: RunInputFile[];
const prefix = () => `k8s-${suite}`;
/** What the job prints: every input file's md5 and path, then whether a write into input/ succeeds. */
const command = ['sh', '-c', 'find input -type f -exec md5sum {} + | LC_ALL=C sort -k 2; if (printf x >> input/table.bin) 2>/dev/null; then echo writable; else echo read-only; fi'];

const trackedInputs = () =>
  cachedInputs(root, {
    'input/table.bin': randomBytes(3 * 2 ** 20),
    'input/images/a.bin': randomBytes(700_000),
    'input/images/b.txt': Buffer.from(`b ${suite}\n`),
    'input/images/sub/with space.txt': Buffer.from(`spaced ${suite}\n`),
  });
const sources = async (withInputs = false) => sourcesWith(join(await tempDir('reprise-k8s-data-'), 'src'), root, files, withInputs);
const counted = () => countedStaging(root, files);

async function waitExited(backend: Backend, handle: JobHandle): Promise<JobStatus> {
  for (;;) {
    const s = await awaitedStatus(backend, handle);
    if (s.phase === 'exited' || s.phase === 'lost') return s;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** What each run's pod fetched, cached and was shipped, as the backend tells it once the pod has its inputs. */
const podStaged = new Map<string, DataStaged>();
const hooks = { onDataStaged: (runId: string, s: DataStaged) => podStaged.set(runId, s) };
const runIdOf = (name: string) => `kd${suite}${name}`;

async function run(backend: Backend, name: string, data?: StageData, cmd = command): Promise<{ log: string; handle: JobHandle; archive: string }> {
  const runId = runIdOf(name);
  const staged = await backend.stage({ runId, image: { digest, tag }, sourcesDir: await sources(backend instanceof DockerBackend), readOnly: ['input/table.bin', 'input/images'], data });
  const handle = await backend.submit({ runId, command: cmd, env: {}, resources: {}, staged });
  handles.push({ backend, handle });
  // As the job activities do: a pod that was not waiting yet when submit returned (queued, its
  // claim not bound yet) gets its sources once status says they are due.
  for (let s = await backend.status(handle); s.phase === 'pending'; s = await backend.status(handle)) {
    if (s.due === 'sources') await backend.shipSources!(handle);
    else await new Promise((r) => setTimeout(r, 250));
  }
  let log = '';
  for await (const chunk of (await backend.logs(handle)) as Readable) log += String(chunk);
  return { log, handle, archive: staged.sources };
}

const expected = () => md5Listing(files) + 'read-only\n';
const archived = (tarFile: string) => execFileSync('tar', ['-tf', tarFile], { encoding: 'utf8' }).split('\n');

beforeAll(async () => {
  env = loadClusterEnv();
  s3 = s3Env();
  podEndpoint = readInfraEnv('s3', ['S3_POD_ENDPOINT']).S3_POD_ENDPOINT;
  Object.assign(process.env, s3.writerEnv);
  raw = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: s3.region, credentials: { accessKeyId: s3.writerEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.writerEnv.AWS_SECRET_ACCESS_KEY! } });
  digest = buildTestImage(tag);
  kube = new KubernetesBackend(backendConfig(env, { dataEndpoint: podEndpoint }), dockerClient(), hooks);
  root = await tempDir('reprise-k8s-data-root-');
  files = await trackedInputs();
  await setDataRemote(root, `s3://${s3.bucket}/${prefix()}`, s3.endpoint);
  await pushCachedObjects(root, files);
}, 600_000);

afterAll(async () => {
  for (const { backend, handle } of handles) await backend.cleanup(handle).catch(() => undefined);
  raw?.destroy();
  try {
    execFileSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
});

describe('tracked inputs staged by digest on Kubernetes', () => {
  it('the pod fetches them from the store; none is in the sources archive; the job sees input/ as on Docker, read-only', async () => {
    const first = await counted();
    const { log, archive } = await run(kube, 'first', first.data);
    first.close();
    expect(log).toBe(expected());
    expect(podStaged.get(runIdOf('first'))).toEqual({ fetched: files.length, fetchedBytes: files.reduce((n, f) => n + f.size, 0), shipped: 0, shippedBytes: 0, cached: 0 });
    expect(first.calls).toEqual({ has: 1, presign: files.length });
    const listed = archived(archive);
    expect(listed).toContain('./code.sh');
    for (const f of files) expect(listed).not.toContain(`./${f.path}`);
    // The URLs stay on the worker (0600), never in the Job.
    expect(((await readFile(`${archive}.data.json`, 'utf8')).match(/X-Amz-Signature/g) ?? []).length).toBe(files.length);
    const docker = await run(new DockerBackend(dockerClient()), 'docker');
    expect(log).toBe(docker.log);
  });

  it('an object whose bytes in the store do not match its digest is refused with one line; the Job is removed', async () => {
    const bad = { path: 'input/bad.bin', md5: createHash('md5').update(`good ${suite}`).digest('hex'), size: 9 };
    await raw.send(new PutObjectCommand({ Bucket: s3.bucket, Key: objectKey({ bucket: s3.bucket, prefix: prefix() }, bad.md5), Body: 'not good!' }));
    const { data, close } = await stageDataFor(root, [bad], { info: () => undefined, warn: () => undefined });
    const runId = `kd${suite}bad`;
    const staged = await kube.stage({ runId, image: { digest, tag }, sourcesDir: await sources(), readOnly: ['input/bad.bin'], data });
    close();
    const err = await kube.submit({ runId, command: ['true'], env: {}, resources: {}, staged }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepriseError);
    expect((err as RepriseError).message).toMatch(new RegExp(`^the tracked input object ${bad.md5} from the data store arrived in pod \\S+ with md5 [0-9a-f]{32}; it was refused, not used`));
    expect((err as RepriseError).message).not.toContain('\n');
    expect(await kube.status({ kind: 'kubernetes', runId, jobId: `reprise-${runId}`, namespace: env.K8S_NAMESPACE, sources: staged.sources, timeSeconds: null } as JobHandle)).toMatchObject({ phase: 'lost' });
  });

  it('a pod that cannot reach the store (dataEndpoint where nothing listens) gets the objects from the worker instead', async () => {
    const cut = new KubernetesBackend(backendConfig(env, { dataEndpoint: 'http://127.0.0.1:9' }), dockerClient(), hooks);
    const first = await counted();
    const { log } = await run(cut, 'cut', first.data);
    first.close();
    expect(log).toBe(expected());
    expect(podStaged.get(runIdOf('cut'))).toEqual({ fetched: 0, fetchedBytes: 0, shipped: files.length, shippedBytes: files.reduce((n, f) => n + f.size, 0), cached: 0 });
  });

  it('dataStaging: ship puts the objects in the sources archive and asks the store nothing', async () => {
    const shipping = new KubernetesBackend(backendConfig(env, { dataStaging: 'ship' }), dockerClient(), hooks);
    const first = await counted();
    const { log, archive } = await run(shipping, 'ship', first.data);
    first.close();
    expect(log).toBe(expected());
    expect(first.staged).toEqual([{ fetched: 0, fetchedBytes: 0, shipped: files.length, shippedBytes: files.reduce((n, f) => n + f.size, 0), cached: 0 }]);
    expect(first.calls).toEqual({ has: 0, presign: 0 });
    expect(archived(archive)).toContain('./input/table.bin');
  });
});

describe('a data cache claim on Kubernetes', () => {
  const claim = `reprise-data-cache-${suite}`;
  const hostDir = `/tmp/${claim}`;
  let removeClaim: () => Promise<void>;
  beforeAll(async () => {
    removeClaim = await makeCacheClaim(env, claim, hostDir);
  });
  afterAll(() => removeClaim?.());

  it('the first run fetches into the claim, the second finds every object there and moves 0 data bytes; the job sees input/ the same, read-only', async () => {
    const cached = new KubernetesBackend(backendConfig(env, { dataEndpoint: podEndpoint, dataCacheClaim: claim }), dockerClient(), hooks);
    for (const name of ['claim1', 'claim2']) {
      const staging = await counted();
      const { log } = await run(cached, name, staging.data);
      staging.close();
      expect(log, name).toBe(expected());
    }
    expect(podStaged.get(runIdOf('claim1'))).toEqual({ fetched: files.length, fetchedBytes: files.reduce((n, f) => n + f.size, 0), shipped: 0, shippedBytes: 0, cached: 0 });
    expect(podStaged.get(runIdOf('claim2'))).toEqual({ fetched: 0, fetchedBytes: 0, shipped: 0, shippedBytes: 0, cached: files.length });
    // One read-only copy of each object in the claim, nothing half-written.
    const objects = join(hostDir, 'files', 'md5');
    expect(readdirSync(objects, { recursive: true, encoding: 'utf8' }).filter((p) => p.includes('/')).sort()).toEqual([...new Set(files.map((f) => `${f.md5.slice(0, 2)}/${f.md5.slice(2)}`))].sort());
    for (const f of files) expect(statSync(join(objects, f.md5.slice(0, 2), f.md5.slice(2))).mode & 0o222).toBe(0);
  });
});

describe('large outputs on Kubernetes', () => {
  it('an output above the threshold goes to the store from the pod; its pointer comes back, never its bytes, also when the collect is retried', async () => {
    const cmd = ['sh', '-c', 'head -c 2500000 /dev/urandom > output/big.bin && mkdir -p output/sub && head -c 1500000 /dev/urandom > "output/sub/also big.bin" && echo small > output/small.txt && md5sum output/big.bin "output/sub/also big.bin"'];
    const { log, handle } = await run(kube, 'out', undefined, cmd);
    expect(await waitExited(kube, handle)).toMatchObject({ phase: 'exited', exitCode: 0 });
    const sums = new Map(log.trim().split('\n').map((l) => [l.slice(34), l.slice(0, 32)]));
    const output = await outputStoreFor(root);
    try {
      // A collect that fails once the files are set aside (the store refuses) is retried, as the activity is: same answer.
      const refusing = { ...output!.store, presignPut: () => Promise.reject(new Error('store down')) };
      await expect(kube.collect(handle, await tempDir('reprise-k8s-out-0-'), { data: { threshold: 1_000_000, store: refusing } })).rejects.toThrow('store down');
      {
        const dest = await tempDir('reprise-k8s-out-1-');
        const collected = await kube.collect(handle, dest, { data: { threshold: 1_000_000, store: output!.store } });
        expect(collected.stored?.map((f) => f.path).sort()).toEqual(['output/big.bin', 'output/sub/also big.bin']);
        for (const f of collected.stored!) expect(f.md5).toBe(sums.get(f.path));
        expect((await readdir(dest)).sort()).toEqual(['big.bin.dvc', 'small.txt', 'sub']);
        expect(await readdir(join(dest, 'sub'))).toEqual(['also big.bin.dvc']);
        expect(parsePointer(await readFile(join(dest, 'big.bin.dvc'), 'utf8'), 'output/big.bin.dvc')[0]).toMatchObject({ md5: sums.get('output/big.bin'), size: 2_500_000 });
        expect(collected.skipped).toEqual([]);
      }
    } finally {
      output?.close();
    }
    // The store's bytes are the pod's.
    for (const [path, md5] of sums) {
      const got = await raw.send(new GetObjectCommand({ Bucket: s3.bucket, Key: objectKey({ bucket: s3.bucket, prefix: prefix() }, md5) }));
      expect(createHash('md5').update(Buffer.from(await got.Body!.transformToByteArray())).digest('hex'), path).toBe(md5);
    }
  });

  it('an output above the part size goes in parts, read from the pod range by range through the worker, joined in the store', async () => {
    const cmd = ['sh', '-c', 'head -c 12582912 /dev/urandom > output/model.bin && md5sum output/model.bin'];
    const { log, handle } = await run(kube, 'parts', undefined, cmd);
    expect(await waitExited(kube, handle)).toMatchObject({ phase: 'exited', exitCode: 0 });
    const md5 = log.slice(0, 32);
    const output = await outputStoreFor(root);
    process.env.REPRISE_DATA_PART_SIZE = String(5 * 2 ** 20);
    try {
      const collected = await kube.collect(handle, await tempDir('reprise-k8s-parts-'), { data: { threshold: 1_000_000, store: output!.store } });
      expect(collected.stored).toEqual([{ path: 'output/model.bin', md5, size: 12_582_912 }]);
    } finally {
      delete process.env.REPRISE_DATA_PART_SIZE;
      output?.close();
    }
    const got = await raw.send(new GetObjectCommand({ Bucket: s3.bucket, Key: objectKey({ bucket: s3.bucket, prefix: prefix() }, md5) }));
    expect(got.ETag).toMatch(/-3"?$/);
    expect(createHash('md5').update(Buffer.from(await got.Body!.transformToByteArray())).digest('hex')).toBe(md5);
  });
});
