// Large outputs sent in parts from the real SLURM test cluster's login node to the real object
// store (SeaweedFS), the part size forced small: the worker creates and presigns the multipart
// upload, the login node PUTs each byte range with curl from a pipe, the worker joins the parts
// by their ETags; the object's bytes match the md5 the login node computed. A run cancelled
// mid-upload aborts it: the store keeps neither object nor parts. Needs `test/infra/slurm up`
// and `test/infra/s3 up`.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand, S3Client } from '@aws-sdk/client-s3';
import { outputStoreFor } from '../../../src/activities/data-staging.js';
import { storeLargeOutputs, type ClusterDataOptions } from '../../../src/backends/slurm/data-cache.js';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import { objectKey } from '../../../src/data/store/location.js';
import { PART_SIZE_ENV } from '../../../src/data/store/multipart.js';
import { setDataRemote } from '../../../src/data/store/remote.js';
import { tempDir } from '../../helpers/project.js';
import { clusterConfig } from '../slurm/slurm-backend-env.js';
import { s3Env, type S3Env } from './s3-env.js';

const MiB = 2 ** 20;
const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const slurm = new SlurmBackend(clusterConfig(`~/reprise-it/mp-${suite}`), { logPollMs: 300 });
let s3: S3Env;
let raw: S3Client;
let root: string;
let prefix: string;
let options: ClusterDataOptions;
let home: string;

/** A job's project on the login node with output files of these sizes (MiB, real random bytes); its run dir. */
async function jobWith(name: string, files: Record<string, number>): Promise<{ runDir: string; project: string }> {
  const runDir = `${home}/reprise-it/mp-${suite}/runs/${name}`;
  const project = `${runDir}/project`;
  const make = Object.entries(files)
    .map(([path, mib]) => `head -c ${mib * MiB + 123} /dev/urandom > "output/${path}"`)
    .join(' && ');
  await slurm.ssh.run(['sh', '-c', `mkdir -p "$1/output" && cd "$1" && ${make}`, 'sh', project]);
  return { runDir, project };
}

async function pendingParts(key: string): Promise<number | undefined> {
  const upload = (await raw.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: key }))).Uploads?.find((u) => u.Key === key);
  if (!upload) return undefined;
  return (await raw.send(new ListPartsCommand({ Bucket: s3.bucket, Key: key, UploadId: upload.UploadId }))).Parts?.length ?? 0;
}

beforeAll(async () => {
  s3 = s3Env();
  Object.assign(process.env, s3.writerEnv);
  process.env[PART_SIZE_ENV] = String(5 * MiB);
  raw = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: s3.region, credentials: { accessKeyId: s3.writerEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.writerEnv.AWS_SECRET_ACCESS_KEY! } });
  root = await tempDir('reprise-mp-cluster-');
  prefix = `cluster-mp-${suite}`;
  await setDataRemote(root, `s3://${s3.bucket}/${prefix}`, s3.endpoint);
  options = await (slurm as unknown as { dataCache(): Promise<ClusterDataOptions> }).dataCache();
  home = (await slurm.ssh.run(['sh', '-c', 'printf %s "$HOME"'])).trim();
}, 600_000);

afterAll(async () => {
  delete process.env[PART_SIZE_ENV];
  await slurm.ssh.exec(['sh', '-c', 'rm -rf "$HOME/reprise-it/$1"', 'sh', `mp-${suite}`]).catch(() => undefined);
  slurm.close();
  raw?.destroy();
});

describe('large outputs in parts from the login node', () => {
  it('an output above the part size lands in the store by multipart, its bytes matching the md5 the login node computed', async () => {
    const { runDir, project } = await jobWith('ok', { 'model.bin': 12, 'small.bin': 1 });
    const output = (await outputStoreFor(root))!;
    try {
      const stored = await storeLargeOutputs(options, runDir, project, 100_000, output.store);
      const model = stored.find((f) => f.path === 'output/model.bin')!;
      expect(model.size).toBe(12 * MiB + 123);
      expect(stored.map((f) => f.path).sort()).toEqual(['output/model.bin', 'output/small.bin']);
      const key = objectKey({ bucket: s3.bucket, prefix }, model.md5);
      const head = await raw.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
      expect(head.ContentLength).toBe(model.size);
      expect(head.ETag).toMatch(/-3"?$/); // joined from three parts: its ETag is not its md5
      const body = await raw.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
      const bytes = Buffer.from(await body.Body!.transformToByteArray());
      expect(createHash('md5').update(bytes).digest('hex')).toBe(model.md5);
      expect(await pendingParts(key)).toBeUndefined();
      // The URLs went to the login node in files that are gone now.
      expect((await slurm.ssh.run(['sh', '-c', 'ls -A "$1"', 'sh', runDir])).trim()).toBe('project');
    } finally {
      output.close();
    }
  });

  it('a run cancelled mid-upload aborts it: no object, no parts left in the store', async () => {
    const { runDir, project } = await jobWith('cut', { 'huge.bin': 100 }); // 21 parts: two rounds
    const md5 = (await slurm.ssh.run(['sh', '-c', 'md5sum < "$1/output/huge.bin"', 'sh', project])).split(' ')[0]!;
    const key = objectKey({ bucket: s3.bucket, prefix }, md5);
    const cancel = new AbortController();
    const output = (await outputStoreFor(root, { signal: cancel.signal }))!;
    try {
      const upload = storeLargeOutputs(options, runDir, project, 100_000, output.store).then(
        () => 'finished',
        (err: unknown) => String(err),
      );
      let parts: number | undefined;
      for (let i = 0; i < 3000 && !(parts && parts > 0); i++) {
        await new Promise((r) => setTimeout(r, 20));
        parts = await pendingParts(key);
      }
      expect(parts).toBeGreaterThan(0);
      cancel.abort(new Error('run cancelled'));
      expect(await upload).toMatch(/cancelled/);
      expect(await pendingParts(key)).toBeUndefined();
      const head = await raw.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key })).then(
        () => 'present',
        () => 'absent',
      );
      expect(head).toBe('absent');
    } finally {
      output.close();
    }
  });
});
