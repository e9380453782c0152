// Presigned GET URLs from the store client against the real S3-compatible store: the first is
// signed by the SDK, the rest reuse its address and are only signed; each must fetch its own
// object's bytes without credentials, and a URL bent to another key must be refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3Store } from '../../../src/data/store/s3-store.js';
import { objectKey } from '../../../src/data/store/location.js';
import { s3Env, type S3Env } from './s3-env.js';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const prefix = `presign-it/${process.pid}-${Date.now()}`;
let env: S3Env;
let store: S3Store;
let raw: S3Client;
const objects = Array.from({ length: 5 }, () => randomBytes(1000 + Math.floor(Math.random() * 5000)));

beforeAll(async () => {
  env = s3Env();
  process.env.AWS_SHARED_CREDENTIALS_FILE = env.credentialsFile;
  raw = new S3Client({ endpoint: env.endpoint, forcePathStyle: true, region: env.region, credentials: { accessKeyId: env.writerEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: env.writerEnv.AWS_SECRET_ACCESS_KEY! } });
  for (const b of objects) await raw.send(new PutObjectCommand({ Bucket: env.bucket, Key: objectKey({ bucket: env.bucket, prefix }, md5(b)), Body: b }));
  store = new S3Store({ location: { bucket: env.bucket, prefix }, endpoint: env.endpoint, profile: 'writer' });
});

afterAll(() => {
  store?.destroy();
  raw?.destroy();
});

describe('presigned GET URLs', () => {
  it('each URL, the SDK-signed first and the ones signed from its address, fetches its own object without credentials', async () => {
    const urls = await Promise.all(objects.map((b) => store.presignedGet(md5(b), 600)));
    expect(new Set(urls).size).toBe(objects.length);
    for (const [i, url] of urls.entries()) {
      const res = await fetch(url);
      expect(res.status, url).toBe(200);
      expect(md5(Buffer.from(await res.arrayBuffer()))).toBe(md5(objects[i]!));
    }
    // Signed after the first: a URL for an object the store lacks is a 404, not a signature error.
    const missing = await fetch(await store.presignedGet('0'.repeat(32), 600));
    expect(missing.status).toBe(404);
  });

  it('a URL whose key is changed, or whose signature is, is refused', async () => {
    const [a, b] = [md5(objects[0]!), md5(objects[1]!)];
    const url = await store.presignedGet(a, 600);
    const bent = url.replace(`/${a.slice(0, 2)}/${a.slice(2)}`, `/${b.slice(0, 2)}/${b.slice(2)}`);
    expect(bent).not.toBe(url);
    expect((await fetch(bent)).status).toBe(403);
    const forged = url.replace(/X-Amz-Signature=([0-9a-f])/, (_, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`);
    expect((await fetch(forged)).status).toBe(403);
  });
});
