import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { backendUnavailable, type RepriseError } from '../../errors.js';
import { mapLimit } from '../hash.js';
import { storeError } from './errors.js';
import { formatStoreUrl, md5OfKey, objectKey, type StoreLocation } from './location.js';

/** How to reach a store: its location and, for an S3-compatible, its endpoint. Never credentials. */
export interface StoreConfig {
  location: StoreLocation;
  /** http(s) URL of an S3-compatible (path-style addressing); AWS S3 itself when absent. */
  endpoint?: string;
  region?: string;
  /** A profile of ~/.aws/credentials; else the standard chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, …). */
  profile?: string;
}

/** An object to send: its md5 (".dir" for manifests) and the local file holding its bytes. */
export interface Outgoing {
  md5: string;
  path: string;
  size: number;
}

/** An object to fetch into `dest`; `label` (the project path it backs) names it in errors. */
export interface Incoming {
  md5: string;
  dest: string;
  size?: number;
  label?: string;
}

/** What a download moved: bytes received from the store, and bytes of earlier parts it resumed. */
export interface Received {
  received: number;
  resumed: number;
}

/** Byte counts as they move, for a progress bar. */
export type OnBytes = (bytes: number) => void;

/** Objects up to this many are looked up one HEAD each; more are listed per two-hex-digit folder. */
const HEAD_LOOKUP_LIMIT = 64;
/** lib-storage's multipart parts: 16 MiB, four in flight per file. */
const PART_SIZE = 16 * 2 ** 20;
const PARTS_IN_FLIGHT = 4;
const DEFAULT_CONCURRENCY = 8;
/** A body cut mid-object is resumed from where it stopped this many times before giving up. */
const RESUME_ATTEMPTS = 3;

/**
 * A content-addressed object store over S3 (AWS or an S3-compatible), laid out as a DVC 3 remote
 * (`<prefix>/files/md5/xx/yyyy`) so `dvc pull`/`dvc push` share it. Every fetched object is
 * verified by md5 before it lands; a cut transfer resumes from its `.part` file.
 */
export class S3Store {
  readonly url: string;
  private readonly client: S3Client;

  constructor(readonly config: StoreConfig) {
    this.url = formatStoreUrl(config.location);
    // The SDK warns on Node < 22 about its future releases: noise around our one-line errors on the Node 20 we support.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.client = new S3Client({
      region: config.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      ...(config.profile ? { profile: config.profile } : {}),
      ...(config.endpoint ? { endpoint: config.endpoint, forcePathStyle: true } : {}),
      followRegionRedirects: true,
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 10_000 },
      // S3-compatibles differ in the newer checksum schemes; every object is verified by md5 here instead.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  private get bucket(): string {
    return this.config.location.bucket;
  }

  private fail(err: unknown, object?: string): RepriseError {
    return storeError(err, this.url, this.config.endpoint, object);
  }

  /** The bucket answers our credentials: unreachable, refused and missing fail here, once. */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      // HEAD answers have no body: a 404 can only mean the bucket.
      throw this.fail((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404 ? { ...(err as object), name: 'NoSuchBucket' } : err);
    }
  }

  /** Which of `md5s` the store holds. */
  async has(md5s: string[], concurrency = 16): Promise<Set<string>> {
    const wanted = [...new Set(md5s)];
    const found = new Set<string>();
    if (wanted.length <= HEAD_LOOKUP_LIMIT) {
      await mapLimit(wanted, concurrency, async (md5) => {
        if (await this.exists(md5)) found.add(md5);
      });
      return found;
    }
    const folders = [...new Set(wanted.map((m) => m.slice(0, 2)))];
    const want = new Set(wanted);
    await mapLimit(folders, concurrency, async (folder) => {
      for (const md5 of await this.listFolder(folder)) if (want.has(md5)) found.add(md5);
    });
    return found;
  }

  private async exists(md5: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey(this.config.location, md5) }));
      return true;
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw this.fail(err);
    }
  }

  private async listFolder(folder: string): Promise<string[]> {
    const prefix = objectKey(this.config.location, `${folder}x`).slice(0, -1);
    const md5s: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token })).catch((err: unknown) => {
        throw this.fail(err);
      });
      for (const o of page.Contents ?? []) {
        const md5 = o.Key && md5OfKey(this.config.location, o.Key);
        if (md5) md5s.push(md5);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return md5s;
  }

  /** Send objects, several at once; a big file goes in parts, and a failed one leaves no object. */
  async upload(items: Outgoing[], options: { onBytes?: OnBytes; concurrency?: number } = {}): Promise<void> {
    await mapLimit(items, options.concurrency ?? DEFAULT_CONCURRENCY, async (item) => {
      const key = objectKey(this.config.location, item.md5);
      let sent = 0;
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key: key, Body: createReadStream(item.path), ContentLength: item.size },
        partSize: PART_SIZE,
        queueSize: PARTS_IN_FLIGHT,
        leavePartsOnError: false,
      });
      upload.on('httpUploadProgress', (p) => {
        if (p.loaded === undefined || !options.onBytes) return;
        options.onBytes(p.loaded - sent);
        sent = p.loaded;
      });
      try {
        await upload.done();
      } catch (err) {
        throw this.fail(err, key);
      }
    });
  }

  /**
   * Fetch objects into their `dest`s, several at once. Each is written to `dest.part`, resumed
   * with a ranged GET when that exists, and renamed into place (read-only) only once its bytes
   * hash to its md5; a mismatch deletes the part and fails naming the object. `onBytes` reports
   * positions reached (resumed parts count); the result says what came over the network.
   */
  async download(items: Incoming[], options: { onBytes?: OnBytes; onSize?: OnBytes; concurrency?: number } = {}): Promise<Received> {
    const received: Received = { received: 0, resumed: 0 };
    await mapLimit(items, options.concurrency ?? DEFAULT_CONCURRENCY, (item) => this.fetchOne(item, received, options.onBytes, options.onSize));
    return received;
  }

  /** `onSize` learns the length of an object given without a size, once, from the store's answer. */
  private async fetchOne(item: Incoming, counts: Received, onBytes: OnBytes | undefined, onSize: OnBytes | undefined): Promise<void> {
    const key = objectKey(this.config.location, item.md5);
    const what = `object ${key}${item.label ? ` (${item.label})` : ''}`;
    const part = `${item.dest}.part`;
    await mkdir(dirname(item.dest), { recursive: true });
    // Bytes already reported are not reported again when a cut attempt resumes.
    let reported = 0;
    const progress = (at: number) => {
      if (at > reported) onBytes?.(at - reported);
      reported = Math.max(reported, at);
    };
    let sized = item.size !== undefined;
    const learnSize = (length: number) => {
      if (!sized) onSize?.(length);
      sized = true;
    };
    for (let attempt = 1; ; attempt++) {
      const hash = createHash('md5');
      const have = await hashPart(part, item.size, hash);
      if (attempt === 1) counts.resumed += have;
      progress(have);
      try {
        if (item.size === undefined || have < item.size) await this.appendBody(key, what, part, have, hash, (at, chunk) => {
            counts.received += chunk;
            progress(at);
          }, learnSize);
      } catch (err) {
        const cut = !(err as RepriseError).kind;
        if (cut && attempt < RESUME_ATTEMPTS) continue;
        throw cut ? this.fail(err, what) : err;
      }
      const got = hash.digest('hex');
      if (got !== item.md5.replace(/\.dir$/, '')) {
        await rm(part, { force: true });
        throw backendUnavailable(`${what} in the data store ${this.url} does not match its digest (its bytes hash to ${got}); refused and deleted the download: push a good copy (reprise data push) or remove the object`);
      }
      await chmod(part, 0o444);
      await rename(part, item.dest);
      return;
    }
  }

  /** GET the object from byte `from` on and append it to `part`, reporting the position reached and each chunk's size. */
  private async appendBody(key: string, what: string, part: string, from: number, hash: Hash, progress: (at: number, chunk: number) => void, learnSize: (length: number) => void): Promise<void> {
    let res;
    try {
      res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(from > 0 ? { Range: `bytes=${from}-` } : {}) }));
    } catch (err) {
      if ((err as { name?: string }).name === 'InvalidRange') return; // the part holds the whole object already
      throw this.fail(err, what);
    }
    const body = res.Body as Readable;
    if (from > 0 && res.ContentRange === undefined) {
      // The store ignored the range and sends the whole object: start the part again.
      body.destroy();
      await rm(part, { force: true });
      throw new Error('the store ignored the byte range');
    }
    if (res.ContentLength !== undefined) learnSize(from + res.ContentLength);
    let at = from;
    body.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      progress((at += chunk.length), chunk.length);
    });
    await pipeline(body, createWriteStream(part, { flags: from > 0 ? 'a' : 'w' }));
  }

  /** A GET URL anyone holding it may use until it expires: how clusters fetch without our credentials. */
  async presignedGet(md5: string, expiresInSeconds = 3600): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: objectKey(this.config.location, md5) }), { expiresIn: expiresInSeconds });
  }

  /** A `PUT` URL for where a cluster uploads an output it made: the key is the md5 it computed there. */
  async presignedPut(md5: string, expiresInSeconds = 3600): Promise<string> {
    return getSignedUrl(this.client, new PutObjectCommand({ Bucket: this.bucket, Key: objectKey(this.config.location, md5) }), { expiresIn: expiresInSeconds });
  }

  destroy(): void {
    this.client.destroy();
  }
}

/** Feed an existing `.part` into `hash` and return its length; one longer than the object is dropped. */
async function hashPart(part: string, size: number | undefined, hash: Hash): Promise<number> {
  const length = await stat(part).then(
    (s) => s.size,
    () => 0,
  );
  if (length === 0) return 0;
  if (size !== undefined && length > size) {
    await rm(part, { force: true });
    return 0;
  }
  for await (const chunk of createReadStream(part, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return length;
}
