// Collect's upload of the large outputs a backend brought back, against the real object store
// (SeaweedFS from test/infra/s3): idempotent (a retried collect sends 0 bytes), what the backend
// stored itself is not sent again, a cancelled upload ends the step instead of being taken for a
// store that is down, and a store that is down leaves the outputs cached and named as unsent.
// Needs `test/infra/s3 up`.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { sendCollectedOutputs } from '../../../src/activities/data-staging.js';
import { cacheObjectPath, hasObject, localCacheDir } from '../../../src/data/cache.js';
import { serializePointer } from '../../../src/data/format.js';
import { objectKey } from '../../../src/data/store/location.js';
import { PART_SIZE_ENV } from '../../../src/data/store/multipart.js';
import { setDataRemote } from '../../../src/data/store/remote.js';
import { freePort } from '../../helpers/cli.js';
import { makeProject } from '../../helpers/project.js';
import { s3Env, type S3Env } from './s3-env.js';

const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const prefix = `send-outputs-${suite}`;
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const dirs: string[] = [];
let s3: S3Env;
let raw: S3Client;
let root: string;

/** A collected output folder (the run's outputs/ as collect leaves it) holding `files`. */
async function outputsWith(files: Record<string, Buffer | string>): Promise<string> {
  const dir = join(root, '..', `outputs-${randomBytes(3).toString('hex')}`);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

async function storedMd5(hash: string): Promise<string | undefined> {
  try {
    const res = await raw.send(new GetObjectCommand({ Bucket: s3.bucket, Key: objectKey({ bucket: s3.bucket, prefix }, hash) }));
    return md5(Buffer.from(await res.Body!.transformToByteArray()));
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

beforeAll(async () => {
  s3 = s3Env();
  dirs.push(join(s3.credentialsFile, '..'));
  Object.assign(process.env, s3.writerEnv);
  raw = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: s3.region, credentials: { accessKeyId: s3.writerEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.writerEnv.AWS_SECRET_ACCESS_KEY! } });
  root = (await makeProject({ name: 'sendout' })).root;
  dirs.push(join(root, '..'));
  await setDataRemote(root, `s3://${s3.bucket}/${prefix}`, s3.endpoint);
});

afterAll(async () => {
  const listed = await raw?.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}/` })).catch(() => undefined);
  const keys = (listed?.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
  if (keys.length) await raw.send(new DeleteObjectsCommand({ Bucket: s3.bucket, Delete: { Objects: keys } })).catch(() => undefined);
  raw?.destroy();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('large outputs sent from this machine at collect', () => {
  it('cached, pointed at and sent; a retry sends 0 bytes; an output the backend stored itself is not sent again', async () => {
    const big = randomBytes(1_500_000);
    const elsewhere = { md5: md5(randomBytes(16)), size: 2_000_000 };
    const files = { 'model.bin': big, 'small.txt': 'small\n', 'cluster.bin.dvc': serializePointer({ ...elsewhere, path: 'cluster.bin' }) };
    const stored = [{ path: 'output/cluster.bin', ...elsewhere }];
    const first = await sendCollectedOutputs(root, await outputsWith(files), 1_000_000, stored);
    expect(first).toEqual({ sent: [{ path: 'output/model.bin', md5: md5(big), size: big.length }], bytes: big.length });
    expect(await storedMd5(md5(big))).toBe(md5(big));
    expect(await hasObject(await localCacheDir(root), md5(big))).toBe(true);

    // The collect retried: the backend's files again, the store has them, nothing moves.
    const dir = await outputsWith(files);
    const again = await sendCollectedOutputs(root, dir, 1_000_000, stored);
    expect(again).toEqual({ sent: first.sent, bytes: 0 });
    expect(await readFile(join(dir, 'model.bin.dvc'), 'utf8')).toContain(`md5: ${md5(big)}`);
  });

  it('cancelled mid-upload: the step ends with the cancellation, nothing called unsent; the retry completes the object', async () => {
    const big = randomBytes(12 * 2 ** 20);
    const aborted = new AbortController();
    process.env[PART_SIZE_ENV] = String(5 * 2 ** 20);
    try {
      // Cancelled as the first bytes leave: the store client's failure then reads like a store error.
      const cut = sendCollectedOutputs(root, await outputsWith({ 'c.bin': big }), 1_000_000, [], { signal: aborted.signal, onBytes: () => aborted.abort(new Error('activity cancelled')) });
      await expect(cut).rejects.toThrow();
      expect(await storedMd5(md5(big))).toBeUndefined();
      // Its bytes are in the local cache already: the retried collect sends them.
      expect(await hasObject(await localCacheDir(root), md5(big))).toBe(true);
      const retried = await sendCollectedOutputs(root, await outputsWith({ 'c.bin': big }), 1_000_000, []);
      expect(retried.sent).toEqual([{ path: 'output/c.bin', md5: md5(big), size: big.length }]);
      expect(retried.unsent).toBeUndefined();
      expect(await storedMd5(md5(big))).toBe(md5(big));
    } finally {
      delete process.env[PART_SIZE_ENV];
    }
  });

  it('the store down: the outputs stay cached, named as unsent with the store client line', async () => {
    const big = randomBytes(1_100_000);
    const port = await freePort();
    await writeFile(join(root, '.dvc/config.local'), `['remote "storage"']\n    endpointurl = http://127.0.0.1:${port}\n`);
    try {
      const r = await sendCollectedOutputs(root, await outputsWith({ 'sub/d.bin': big }), 1_000_000, []);
      expect(r).toEqual({
        sent: [],
        bytes: 0,
        unsent: {
          store: `s3://${s3.bucket}/${prefix}`,
          reason: `the data store s3://${s3.bucket}/${prefix} is unreachable at http://127.0.0.1:${port} (ECONNREFUSED); check the endpoint (reprise data remote show) and your network`,
          paths: ['output/sub/d.bin'],
        },
      });
      expect(await readFile(cacheObjectPath(await localCacheDir(root), md5(big)))).toEqual(big);
    } finally {
      await rm(join(root, '.dvc/config.local'), { force: true });
    }
  });
});
