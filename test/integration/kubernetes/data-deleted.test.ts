// Bad input on Kubernetes: an object deleted from the REAL object store after the stage asked
// the store (`has` said it was there, its URL was signed) and before the pod fetched it. The
// pod's fetch fails; the worker sends its own copy from the local cache and the job sees the
// input byte-identical. With no local copy either, the submit fails with one line naming the
// object and what to do, and no Job is left. Needs `test/infra/kubernetes up` and `test/infra/s3 up`.
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stageDataFor } from '../../../src/activities/data-staging.js';
import { KubernetesBackend } from '../../../src/backends/kubernetes/kubernetes-backend.js';
import type { DataStaged, JobHandle, StagedJob } from '../../../src/backends/types.js';
import { addFileToCache, cacheObjectPath, localCacheDir } from '../../../src/data/cache.js';
import { md5File } from '../../../src/data/hash.js';
import type { RunInputFile } from '../../../src/data/run-data.js';
import { objectKey } from '../../../src/data/store/location.js';
import { setDataRemote } from '../../../src/data/store/remote.js';
import { pushCachedObjects } from '../../../src/data/run-data.js';
import { dockerClient } from '../../../src/images/engine.js';
import { RepriseError } from '../../../src/errors.js';
import { readInfraEnv } from '../../helpers/infra.js';
import { tempDir } from '../../helpers/project.js';
import { s3Env, type S3Env } from '../data/s3-env.js';
import { awaitedStatus, backendConfig, buildTestImage, loadClusterEnv, type ClusterEnv } from './kubernetes-backend-env.js';

const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const tag = `reprise/k8s-data-deleted-${suite}:latest`;
const prefix = `k8s-deleted-${suite}`;
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
let env: ClusterEnv;
let kube: KubernetesBackend;
let s3: S3Env;
let raw: S3Client;
let root: string;
let digest: string;
const handles: JobHandle[] = [];
/** What each run's pod fetched and was shipped, as the backend tells it once the pod has its inputs. */
const podStaged = new Map<string, DataStaged>();

/** A tracked input of its own (its own object) in the local cache and in the store. */
async function tracked(path: string, bytes: Buffer): Promise<RunInputFile> {
  const local = join(root, path);
  await mkdir(join(local, '..'), { recursive: true });
  await writeFile(local, bytes);
  const m = await md5File(local);
  await addFileToCache(await localCacheDir(root), local, m, false);
  const file = { path, md5: m, size: bytes.length };
  await pushCachedObjects(root, [file]);
  return file;
}

/** The stage as the activity does it (the store asked, URLs signed), then the object deleted from the store. */
async function stagedThenDeleted(runId: string, file: RunInputFile): Promise<{ staged: StagedJob; moved: DataStaged[] }> {
  const moved: DataStaged[] = [];
  const { data, close } = await stageDataFor(root, [file], { info: () => undefined, warn: () => undefined });
  const sourcesDir = join(await tempDir('reprise-k8s-deleted-'), 'src');
  await mkdir(join(sourcesDir, 'output'), { recursive: true });
  await mkdir(join(sourcesDir, file.path, '..'), { recursive: true });
  await writeFile(join(sourcesDir, file.path), '');
  const staged = await kube.stage({ runId, image: { digest, tag }, sourcesDir, readOnly: [file.path], data: { ...data, onStaged: (s) => moved.push(s) } });
  close();
  await raw.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: objectKey({ bucket: s3.bucket, prefix }, file.md5) }));
  return { staged, moved };
}

beforeAll(async () => {
  env = loadClusterEnv();
  s3 = s3Env();
  Object.assign(process.env, s3.writerEnv);
  raw = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: s3.region, credentials: { accessKeyId: s3.writerEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.writerEnv.AWS_SECRET_ACCESS_KEY! } });
  digest = buildTestImage(tag);
  kube = new KubernetesBackend(backendConfig(env, { dataEndpoint: readInfraEnv('s3', ['S3_POD_ENDPOINT']).S3_POD_ENDPOINT }), dockerClient(), { onDataStaged: (runId, s) => podStaged.set(runId, s) });
  root = await tempDir('reprise-k8s-deleted-root-');
  await setDataRemote(root, `s3://${s3.bucket}/${prefix}`, s3.endpoint);
}, 600_000);

afterAll(async () => {
  for (const h of handles) await kube.cleanup(h).catch(() => undefined);
  raw?.destroy();
  try {
    execFileSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
});

describe('an object deleted from the store after has() said it was there', () => {
  it('the pod cannot fetch it; the worker sends its own copy and the job sees it byte-identical', async () => {
    const bytes = randomBytes(1_500_000);
    const file = await tracked('input/gone.bin', bytes);
    const runId = `kx${suite}copy`;
    const { staged, moved } = await stagedThenDeleted(runId, file);
    // The stage saw it in the store: left to the pod, so nothing is told until the pod has tried.
    expect(moved).toEqual([]);
    const handle = await kube.submit({ runId, command: ['md5sum', file.path], env: {}, resources: {}, staged });
    handles.push(handle);
    let log = '';
    for await (const chunk of (await kube.logs(handle)) as Readable) log += String(chunk);
    expect(log).toBe(`${md5(bytes)}  ${file.path}\n`);
    expect(podStaged.get(runId)).toEqual({ fetched: 0, fetchedBytes: 0, shipped: 1, shippedBytes: bytes.length, cached: 0 });
  });

  it('with no copy on the worker either: one line naming the object and what to do, and no Job left', { timeout: 300_000 }, async () => {
    const file = await tracked('input/lost.bin', randomBytes(200_000));
    const runId = `kx${suite}lost`;
    const { staged } = await stagedThenDeleted(runId, file);
    const object = cacheObjectPath(await localCacheDir(root), file.md5);
    await chmod(object, 0o644).catch(() => undefined);
    await rm(object);
    // The submit ships the inputs when the pod starts within its wait; a pod slower to start (a
    // loaded cluster) gets them from shipSources(): the error comes from one or the other.
    const handle = { kind: 'kubernetes', runId, jobId: `reprise-${runId}`, namespace: env.K8S_NAMESPACE, sources: staged.sources, timeSeconds: null } as JobHandle;
    const err = await (async () => {
      await kube.submit({ runId, command: ['true'], env: {}, resources: {}, staged });
      handles.push(handle);
      for (const until = Date.now() + 240_000; Date.now() < until; await new Promise((r) => setTimeout(r, 500))) {
        if ((await awaitedStatus(kube, handle)).phase !== 'pending') return new Error('the run went on without its input');
      }
      return new Error('no error within 240 s');
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepriseError);
    const message = (err as RepriseError).message;
    expect(message).not.toContain('\n');
    expect(message).toMatch(new RegExp(`^pod \\S+ could not fetch the tracked input object ${file.md5} from the data store \\(.*\\) and this worker has no copy of it; check the store \\(reprise data push\\)`));
    // As the workflow does after a failed step: nothing is left on the cluster.
    await kube.cleanup(handle);
    expect(await kube.status(handle)).toMatchObject({ phase: 'lost' });
  });
});
