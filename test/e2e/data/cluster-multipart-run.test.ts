// The built CLI running on the real SLURM test cluster a job whose output is above the part size
// (forced small for the worker by its environment): the output goes from the login node to the
// real object store (SeaweedFS) as a multipart upload, its pointer lands in the record, its bytes
// in the store match its md5, and `data pull --run` restores it verified.
// Needs `test/infra/slurm up`, `test/infra/s3 up` and `npm run build`.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { Cli, cliEnv, requireFreshBuild } from '../../helpers/cli.js';
import { git, tempDir } from '../../helpers/project.js';
import { BUSYBOX } from '../../helpers/docker.js';
import { objectKey } from '../../../src/data/store/location.js';
import { PART_SIZE_ENV } from '../../../src/data/store/multipart.js';
import { s3Env, type S3Env } from '../../integration/data/s3-env.js';
import { clusterConfig, slurmAddArgs } from '../../integration/slurm/slurm-backend-env.js';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';

const MiB = 2 ** 20;
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const prefix = `cluster-mp-e2e-${suite}`;
const size = 13 * MiB + 5; // three parts of 5 MiB

let s3: S3Env;
let cli: Cli;
let root: string;
let raw: S3Client;

beforeAll(async () => {
  requireFreshBuild();
  s3 = s3Env();
  raw = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: s3.region, credentials: { accessKeyId: s3.writerEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.writerEnv.AWS_SECRET_ACCESS_KEY! } });
  const home = await tempDir('reprise-e2e-cluster-mp-home-');
  cli = new Cli({ ...(await cliEnv(home)), AWS_SHARED_CREDENTIALS_FILE: s3.credentialsFile, AWS_PROFILE: 'writer', AWS_REGION: s3.region, [PART_SIZE_ENV]: String(5 * MiB) });
  const add = await cli.run(['backend', 'add', ...slurmAddArgs('hpc', `~/reprise-it/e2e-mp-${suite}`)], '/');
  expect(add.code, add.stderr).toBe(0);
  const work = await tempDir('reprise-e2e-cluster-mp-');
  expect((await cli.run(['init', 'mp', '--name', 'mp', '--base', BUSYBOX], work)).code).toBe(0);
  root = join(work, 'mp');
  const spec = await readFile(join(root, '.reprise/project.yaml'), 'utf8');
  await writeFile(join(root, '.reprise/project.yaml'), `${spec}data:\n  autoTrack: 100000\n`);
  git(root, 'commit', '-qam', 'outputs above 100 kB are data');
  const r = await cli.run(['data', 'remote', 'set', `s3://${s3.bucket}/${prefix}`, '--endpoint', s3.endpoint], root);
  expect(r.code, r.stderr).toBe(0);
}, 600_000);

afterAll(async () => {
  await cli?.run(['agent', 'stop'], root);
  raw?.destroy();
  const cluster = new SlurmBackend(clusterConfig('~'));
  await cluster.ssh.exec(['sh', '-c', 'chmod -R u+w "$HOME/reprise-it/$1" 2>/dev/null; rm -rf "$HOME/reprise-it/$1"', 'sh', `e2e-mp-${suite}`]).catch(() => undefined);
  cluster.close();
});

describe('a large output on SLURM through the built CLI', () => {
  it('goes to the store from the login node in parts, its pointer in the record; data pull --run restores it', async () => {
    const r = await cli.run(['run', '--on', 'hpc', '--', 'sh', '-c', `head -c ${size} /dev/urandom > output/model.bin`], root);
    expect(r.code, r.stderr).toBe(0);
    const [entry] = await cli.json<{ runId: string; commit: string }[]>(['log', '-n', '1'], root);
    const record = await cli.json<{ runId: string; data?: { outputs: { path: string; md5: string; size: number }[] } }>(['show', entry!.runId], root);
    const [model] = record.data!.outputs;
    expect(model).toMatchObject({ path: 'output/model.bin', size });
    expect(git(root, 'show', `${entry!.commit}:output/model.bin.dvc`)).toContain(`md5: ${model!.md5}`);
    expect(git(root, 'ls-tree', '-r', '--name-only', entry!.commit)).not.toMatch(/^output\/model\.bin$/m);

    const key = objectKey({ bucket: s3.bucket, prefix }, model!.md5);
    const head = await raw.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
    expect(head.ContentLength).toBe(size);
    expect(head.ETag).toMatch(/-3"?$/); // a multipart object, joined from three parts
    const body = await raw.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    expect(md5(Buffer.from(await body.Body!.transformToByteArray()))).toBe(model!.md5);
    const pending = await raw.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: `${prefix}/` }));
    expect(pending.Uploads ?? []).toEqual([]);

    expect(existsSync(join(root, 'output/model.bin'))).toBe(false);
    const pulled = await cli.run(['data', 'pull', '--run', entry!.runId], root);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(md5(await readFile(join(root, 'output/model.bin')))).toBe(model!.md5);
  });
});
