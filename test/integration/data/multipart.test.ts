// Multipart transfers of the store client against a real S3-compatible (SeaweedFS from
// test/infra/s3), the part size forced small: an upload cut after some parts leaves no object
// and is resumed (its sent parts kept, not sent again), the result md5-verified; a download cut
// mid-object resumes from its .part and is verified on arrival; a cluster-style presigned
// multipart (plain HTTP PUTs of byte ranges, as curl sends them) is joined, and an aborted one
// leaves no parts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand, S3Client } from '@aws-sdk/client-s3';
import { S3Store } from '../../../src/data/store/s3-store.js';
import { objectKey } from '../../../src/data/store/location.js';
import { parseEtag, PART_SIZE_ENV } from '../../../src/data/store/multipart.js';
import { s3Env, type S3Env } from './s3-env.js';

const MiB = 2 ** 20;
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
let env: S3Env;
let dir: string;
let raw: S3Client;
const prefix = `multipart-it/${process.pid}-${Date.now()}`;
const location = () => ({ bucket: env.bucket, prefix });
const stores: S3Store[] = [];

function store(): S3Store {
  const s = new S3Store({ location: location(), endpoint: env.endpoint, profile: 'writer' });
  stores.push(s);
  return s;
}

async function localObject(bytes: Buffer) {
  const path = join(dir, `src-${md5(bytes)}`);
  await writeFile(path, bytes);
  return { md5: md5(bytes), path, size: bytes.length };
}

/** The md5 of the object as the store serves it, read back whole. */
async function storedMd5(m: string): Promise<string> {
  const res = await raw.send(new GetObjectCommand({ Bucket: env.bucket, Key: objectKey(location(), m) }));
  return md5(Buffer.from(await res.Body!.transformToByteArray()));
}

async function visible(m: string): Promise<boolean> {
  return raw.send(new HeadObjectCommand({ Bucket: env.bucket, Key: objectKey(location(), m) })).then(
    () => true,
    () => false,
  );
}

beforeAll(async () => {
  env = s3Env();
  process.env.AWS_SHARED_CREDENTIALS_FILE = env.credentialsFile;
  process.env[PART_SIZE_ENV] = String(5 * MiB);
  dir = await mkdtemp(join(tmpdir(), 'reprise-multipart-it-'));
  raw = new S3Client({ endpoint: env.endpoint, forcePathStyle: true, region: env.region, credentials: { accessKeyId: env.writerEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: env.writerEnv.AWS_SECRET_ACCESS_KEY! } });
});
afterAll(() => {
  delete process.env[PART_SIZE_ENV];
  for (const s of stores) s.destroy();
  raw?.destroy();
});

describe('multipart transfers against SeaweedFS', () => {
  it('an upload cut after some parts leaves no object; the next upload resumes its parts and the store ends with one whole, md5-matching object', async () => {
    const obj = await localObject(randomBytes(63 * MiB + 4321)); // 13 parts of 5 MiB
    const s = store();
    const cut = new AbortController();
    const first = s.upload([obj], { signal: cut.signal }).then(
      () => 'finished',
      () => 'cut',
    );
    // Cut once the store holds two of its parts, as a killed push would leave them.
    const key = objectKey(location(), obj.md5);
    let stored = 0;
    for (let i = 0; i < 2000 && stored < 2; i++) {
      const upload = (await raw.send(new ListMultipartUploadsCommand({ Bucket: env.bucket, Prefix: key }))).Uploads?.find((u) => u.Key === key);
      if (upload) stored = (await raw.send(new ListPartsCommand({ Bucket: env.bucket, Key: key, UploadId: upload.UploadId }))).Parts?.length ?? 0;
      if (stored < 2) await new Promise((r) => setTimeout(r, 5));
    }
    cut.abort(new Error('cut mid-object'));
    expect(await first).toBe('cut');
    expect(await visible(obj.md5)).toBe(false);
    expect(await s.has([obj.md5])).toEqual(new Set());
    const pending = (await s.pendingUploads()).filter((u) => u.key === objectKey(location(), obj.md5));
    expect(pending).toHaveLength(1);

    let reported = 0;
    const second = await store().upload([obj], { onBytes: (n) => (reported += n) });
    expect(second.resumed).toBeGreaterThanOrEqual(2 * 5 * MiB); // the parts the store held were kept
    expect(second.resumed % (5 * MiB)).toBe(0);
    expect(second.sent + second.resumed).toBe(obj.size);
    expect(reported).toBe(obj.size); // the progress bar still ends at the object's size
    expect(await storedMd5(obj.md5)).toBe(obj.md5);
    expect((await s.pendingUploads()).filter((u) => u.key === objectKey(location(), obj.md5))).toEqual([]);
    // The stored object's ETag is a multipart one, not its md5; has() finds it anyway.
    const head = await raw.send(new HeadObjectCommand({ Bucket: env.bucket, Key: objectKey(location(), obj.md5) }));
    expect(parseEtag(head.ETag)).not.toBe(obj.md5);
    expect(await s.has([obj.md5])).toEqual(new Set([obj.md5]));
  });

  it('a pending upload whose part holds other bytes is not trusted: that part is sent again', async () => {
    const obj = await localObject(randomBytes(12 * MiB));
    const s = store();
    // A pending upload of the key with a wrong first part (same size, other bytes).
    const { uploadId, parts } = await s.presignedMultipart(obj.md5, obj.size);
    const put = await fetch(parts[0]!.url, { method: 'PUT', body: randomBytes(parts[0]!.length) });
    expect(put.ok).toBe(true);
    const sent = await s.upload([obj]);
    expect(sent).toEqual({ sent: obj.size, resumed: 0 });
    expect(await storedMd5(obj.md5)).toBe(obj.md5);
    await s.abortMultipart(obj.md5, uploadId); // gone already: completed by the upload above
  });

  it('a presigned multipart from plain HTTP PUTs of byte ranges is joined by ETags and size-checked; an aborted one leaves no parts', async () => {
    const bytes = randomBytes(11 * MiB + 1);
    const m = md5(bytes);
    const s = store();
    const { uploadId, parts } = await s.presignedMultipart(m, bytes.length);
    expect(parts.map((p) => p.length)).toEqual([5 * MiB, 5 * MiB, MiB + 1]);
    const etags: string[] = [];
    for (const p of parts) {
      const res = await fetch(p.url, { method: 'PUT', body: bytes.subarray(p.start, p.start + p.length) });
      expect(res.status).toBe(200);
      etags.push(parseEtag(res.headers.get('etag') ?? undefined)!);
    }
    await s.completeMultipart(m, uploadId, etags, bytes.length);
    expect(await storedMd5(m)).toBe(m);

    const other = randomBytes(6 * MiB);
    const started = await s.presignedMultipart(md5(other), other.length);
    await fetch(started.parts[0]!.url, { method: 'PUT', body: other.subarray(0, 5 * MiB) });
    await s.abortMultipart(md5(other), started.uploadId);
    expect((await s.pendingUploads()).filter((u) => u.uploadId === started.uploadId)).toEqual([]);
    expect(await visible(md5(other))).toBe(false);
  });

  it('a download of a multipart object cut mid-object resumes from its .part and is verified by md5 on arrival', async () => {
    const obj = await localObject(randomBytes(17 * MiB + 99));
    const s = store();
    await s.upload([obj]);
    const dest = join(dir, 'pulled', 'obj');
    // Cut: the first pull stops after about 6 MiB (its connections destroyed, its own resumes cut
    // the same way), leaving dest.part; it ends only once that file is closed.
    const cutter = store();
    let got = 0;
    await cutter
      .download([{ md5: obj.md5, dest, size: obj.size }], {
        onBytes: (n) => {
          got += n;
          if (got >= 6 * MiB) cutter.destroy();
        },
      })
      .catch(() => undefined);
    const partial = await stat(`${dest}.part`).then((st) => st.size, () => 0);
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(obj.size);
    expect(existsSync(dest)).toBe(false);

    const counts = await store().download([{ md5: obj.md5, dest, size: obj.size }]);
    expect(counts).toEqual({ resumed: partial, received: obj.size - partial });
    expect(md5(await readFile(dest))).toBe(obj.md5);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });
});
