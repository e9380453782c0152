// `reprise data push` of an object above the part size (forced small here) through the built CLI
// against the real object store (SeaweedFS from test/infra/s3): the push SIGKILLed after some
// parts leaves no object, only its pending upload; the next push resumes it (the parts the store
// holds are not sent again), and the store ends with one object whose bytes match its md5.
// Needs `test/infra/s3 up` and `npm run build`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand, S3Client } from '@aws-sdk/client-s3';
import { Cli, cliEnv, collect, requireFreshBuild } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/project.js';
import { objectKey } from '../../../src/data/store/location.js';
import { PART_SIZE_ENV } from '../../../src/data/store/multipart.js';
import { s3Env, type S3Env } from '../../integration/data/s3-env.js';

const MiB = 2 ** 20;
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
let s3: S3Env;
let cli: Cli;
let work: string;
let raw: S3Client;
const prefix = `e2e-push-resume-${process.pid}-${Date.now()}`;

async function ok(args: string[], cwd: string): Promise<string> {
  const r = await cli.run(args, cwd);
  expect(r.code, `reprise ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function storedParts(key: string): Promise<number> {
  const upload = (await raw.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: key }))).Uploads?.find((u) => u.Key === key);
  if (!upload) return 0;
  return (await raw.send(new ListPartsCommand({ Bucket: s3.bucket, Key: key, UploadId: upload.UploadId }))).Parts?.length ?? 0;
}

beforeAll(async () => {
  requireFreshBuild();
  s3 = s3Env();
  work = await tempDir('reprise-e2e-push-resume-');
  const env = await cliEnv(await tempDir('reprise-e2e-push-resume-home-'));
  cli = new Cli({ ...env, AWS_SHARED_CREDENTIALS_FILE: s3.credentialsFile, AWS_PROFILE: 'writer', AWS_REGION: s3.region, [PART_SIZE_ENV]: String(5 * MiB) });
  raw = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: s3.region, credentials: { accessKeyId: s3.writerEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.writerEnv.AWS_SECRET_ACCESS_KEY! } });
});
afterAll(() => raw?.destroy());

describe('data push of a large object', () => {
  it('killed after some parts, leaves no object; the next push resumes and the store holds one md5-matching object', async () => {
    await ok(['init', 'big', '--name', 'big', '--base', 'local/busybox:latest'], work);
    const root = join(work, 'big');
    const bytes = randomBytes(160 * MiB + 77); // 33 parts of 5 MiB
    const m = md5(bytes);
    await mkdir(join(root, 'input'), { recursive: true });
    await writeFile(join(root, 'input/big.bin'), bytes);
    await ok(['data', 'add', 'input/big.bin'], root);
    await ok(['data', 'remote', 'set', `s3://${s3.bucket}/${prefix}`, '--endpoint', s3.endpoint], root);
    const key = objectKey({ bucket: s3.bucket, prefix }, m);

    const child = cli.spawn(['data', 'push'], root);
    const done = collect(child);
    let parts = 0;
    for (let i = 0; i < 6000 && parts < 3; i++) {
      await new Promise((r) => setTimeout(r, 10));
      parts = await storedParts(key);
    }
    child.kill('SIGKILL');
    await done;
    expect(parts).toBeGreaterThanOrEqual(3);
    const held = await storedParts(key);
    expect(held).toBeLessThan(33); // cut mid-object
    // Nothing half-written is visible: the object appears only when its upload completes.
    const head = await raw.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key })).then(
      () => 'present',
      () => 'absent',
    );
    expect(head).toBe('absent');

    const resumed = JSON.parse(await ok(['data', 'push', '--json'], root)) as { bytes: number; transferred: number };
    expect(resumed.transferred).toBe(1);
    expect(resumed.bytes).toBeGreaterThan(0);
    expect(resumed.bytes).toBeLessThanOrEqual(bytes.length - held * 5 * MiB); // the parts the store held were not sent again
    const res = await raw.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    expect(md5(Buffer.from(await res.Body!.transformToByteArray()))).toBe(m);
    expect(await storedParts(key)).toBe(0); // no pending upload left
    expect(JSON.parse(await ok(['data', 'push', '--json'], root))).toMatchObject({ transferred: 0 });
  });
});
