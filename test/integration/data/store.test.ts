// The store client against a real S3-compatible (SeaweedFS from test/infra/s3): layout, batched
// lookups, multipart upload, verified and resumable downloads, presigned URLs and the one-line
// errors of an unreachable store, refused credentials, a missing bucket or object, bad bytes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { freePort } from '../../helpers/cli.js';
import { S3Store, type StoreConfig } from '../../../src/data/store/s3-store.js';
import { objectKey } from '../../../src/data/store/location.js';
import { RepriseError } from '../../../src/errors.js';
import { s3Env, type S3Env } from './s3-env.js';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
let env: S3Env;
let dir: string;
const prefix = `store-it/${process.pid}-${Date.now()}`;
const stores: S3Store[] = [];

function store(over: Partial<StoreConfig> = {}): S3Store {
  const s = new S3Store({ location: { bucket: env.bucket, prefix }, endpoint: env.endpoint, profile: 'writer', ...over });
  stores.push(s);
  return s;
}

async function localObject(bytes: Buffer): Promise<{ md5: string; path: string; size: number }> {
  const path = join(dir, `src-${md5(bytes)}`);
  await writeFile(path, bytes);
  return { md5: md5(bytes), path, size: bytes.length };
}

async function failure(p: Promise<unknown>): Promise<RepriseError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RepriseError);
  return err as RepriseError;
}

/** A raw client with the writer's keys, to plant objects the way a broken or hostile store would hold them. */
function rawClient(): S3Client {
  return new S3Client({ endpoint: env.endpoint, forcePathStyle: true, region: env.region, credentials: { accessKeyId: env.writerEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: env.writerEnv.AWS_SECRET_ACCESS_KEY! } });
}

beforeAll(async () => {
  env = s3Env();
  process.env.AWS_SHARED_CREDENTIALS_FILE = env.credentialsFile;
  dir = await mkdtemp(join(tmpdir(), 'reprise-store-it-'));
});
afterAll(() => {
  for (const s of stores) s.destroy();
});

describe('S3Store against SeaweedFS', () => {
  it('uploads small and multipart objects under the DVC layout, finds them, and downloads them byte-identical', async () => {
    const s = store();
    await s.check();
    const small = await localObject(Buffer.from('hello data\n'));
    const big = await localObject(randomBytes(40 * 2 ** 20 + 123)); // three 16 MiB parts
    let sent = 0;
    await s.upload([small, big], { onBytes: (n) => (sent += n) });
    expect(sent).toBe(small.size + big.size);

    const res = await rawClient().send(new GetObjectCommand({ Bucket: env.bucket, Key: `${prefix}/files/md5/${small.md5.slice(0, 2)}/${small.md5.slice(2)}` }));
    expect(await res.Body!.transformToString()).toBe('hello data\n');

    const absent = md5(Buffer.from('never uploaded'));
    expect(await s.has([small.md5, big.md5, absent])).toEqual(new Set([small.md5, big.md5]));

    let got = 0;
    const dest = join(dir, 'cache', 'big');
    await s.download([{ md5: big.md5, dest, size: big.size }], { onBytes: (n) => (got += n) });
    expect(got).toBe(big.size);
    expect((await readFile(dest)).equals(await readFile(big.path))).toBe(true);
    expect((await stat(dest)).mode & 0o777).toBe(0o444);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('looks many objects up by listing their folders (more than the HEAD limit)', async () => {
    const s = store();
    const objects = await Promise.all(Array.from({ length: 80 }, (_, i) => localObject(Buffer.from(`object ${i}\n`))));
    await s.upload(objects.slice(0, 70));
    const found = await s.has(objects.map((o) => o.md5));
    expect(found).toEqual(new Set(objects.slice(0, 70).map((o) => o.md5)));
  });

  it('a download resumes its .part with a ranged GET', async () => {
    const s = store();
    const obj = await localObject(randomBytes(3 * 2 ** 20));
    await s.upload([obj]);
    const bytes = await readFile(obj.path);

    // The part holds the right first MiB: the rest is appended and the object verifies.
    const dest = join(dir, 'resume', 'good');
    await s.download([{ md5: obj.md5, dest: join(dir, 'resume', 'warmup') }]);
    await writeFile(`${dest}.part`, bytes.subarray(0, 2 ** 20));
    let moved = 0;
    const counts = await s.download([{ md5: obj.md5, dest, size: obj.size }], { onBytes: (n) => (moved += n) });
    expect(counts).toEqual({ resumed: 2 ** 20, received: obj.size - 2 ** 20 });
    expect(moved).toBe(obj.size);
    expect((await readFile(dest)).equals(bytes)).toBe(true);

    // A part with wrong first bytes proves only the rest was fetched: the result cannot verify.
    const bad = join(dir, 'resume', 'bad');
    await writeFile(`${bad}.part`, Buffer.alloc(2 ** 20, 7));
    const err = await failure(s.download([{ md5: obj.md5, dest: bad, size: obj.size, label: 'input/big.bin' }]));
    expect(err.message).toMatch(new RegExp(`^object ${objectKey({ bucket: env.bucket, prefix }, obj.md5)} \\(input/big.bin\\) in the data store s3://${env.bucket}/${prefix} does not match its digest`));
    expect(existsSync(bad)).toBe(false);
    expect(existsSync(`${bad}.part`)).toBe(false);
    // Run again: the bad part is gone, so the object comes whole.
    await s.download([{ md5: obj.md5, dest: bad, size: obj.size }]);
    expect((await readFile(bad)).equals(bytes)).toBe(true);
  });

  it('an object whose bytes do not match its name is refused, never lands, and leaves no part', async () => {
    const s = store();
    const real = md5(Buffer.from('the real content\n'));
    await rawClient().send(new PutObjectCommand({ Bucket: env.bucket, Key: objectKey({ bucket: env.bucket, prefix }, real), Body: 'garbage\n' }));
    const dest = join(dir, 'garbage', 'x');
    const err = await failure(s.download([{ md5: real, dest, label: 'input/x.csv' }]));
    expect(err.exitCode).toBe(3);
    expect(err.message).toContain('(input/x.csv)');
    expect(err.message).toContain('does not match its digest');
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('a missing object fails naming it and the path it backs', async () => {
    const s = store();
    const absent = md5(Buffer.from('absent'));
    const err = await failure(s.download([{ md5: absent, dest: join(dir, 'absent'), label: 'input/gone.csv' }]));
    expect(err.exitCode).toBe(3);
    expect(err.message).toBe(`object ${objectKey({ bucket: env.bucket, prefix }, absent)} (input/gone.csv) is missing from the data store s3://${env.bucket}/${prefix}; push it from a clone that has it (reprise data push)`);
  });

  it('a presigned GET URL fetches the object with no credentials at all', async () => {
    const s = store();
    const obj = await localObject(Buffer.from('shared by URL\n'));
    await s.upload([obj]);
    const url = await s.presignedGet(obj.md5, 300);
    expect(url).toContain('X-Amz-Signature=');
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('shared by URL\n');
    expect((await fetch(url.replace(/X-Amz-Signature=[0-9a-f]+/, 'X-Amz-Signature=' + '0'.repeat(64)))).status).toBe(403);
  });

  it('credentials from the environment work like a profile', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, env.writerEnv);
    try {
      await store({ profile: undefined }).check();
    } finally {
      for (const k of Object.keys(env.writerEnv)) if (saved[k] === undefined) delete process.env[k];
    }
  });

  describe('one-line errors, exit 3', () => {
    it('unknown keys: credentials refused', async () => {
      const err = await failure(store({ profile: 'stranger' }).check());
      expect(err.exitCode).toBe(3);
      expect(err.message).toMatch(new RegExp(`^the data store s3://${env.bucket}/${prefix} at ${env.endpoint} refused your credentials \\(`));
    });

    it('read-only keys may read but not write', async () => {
      const reader = store({ profile: 'reader' });
      await reader.check();
      const obj = await localObject(Buffer.from(`read-only ${Date.now()}\n`));
      const err = await failure(reader.upload([obj]));
      expect(err.exitCode).toBe(3);
      expect(err.message).toMatch(/refused your credentials \(AccessDenied\)/);
      expect(await store().has([obj.md5])).toEqual(new Set());
    });

    it('a missing bucket', async () => {
      const err = await failure(store({ location: { bucket: 'reprise-no-such-bucket', prefix: 'p' } }).check());
      expect(err.message).toBe(`the bucket of s3://reprise-no-such-bucket/p does not exist at ${env.endpoint}; create it or fix the URL (reprise data remote set)`);
    });

    it('an unreachable endpoint', async () => {
      const endpoint = `http://127.0.0.1:${await freePort()}`;
      const err = await failure(store({ endpoint }).check());
      expect(err.exitCode).toBe(3);
      expect(err.message).toMatch(new RegExp(`^the data store s3://${env.bucket}/${prefix} is unreachable at ${endpoint} \\(ECONNREFUSED\\); check the endpoint`));
    });
  });
});
