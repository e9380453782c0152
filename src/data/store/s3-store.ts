import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl, S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import { backendUnavailable, type RepriseError } from '../../errors.js';
import { mapLimit } from '../hash.js';
import { storeError } from './errors.js';
import { formatStoreUrl, md5OfKey, objectKey, type StoreLocation } from './location.js';
import { isMultipart, MIN_PART_SIZE, parseEtag, partSize, planParts, type Part } from './multipart.js';

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
/** An object the store holds. */
export interface StoredObject {
  md5: string;
  size: number;
  lastModified: Date;
}

export interface Received {
  received: number;
  resumed: number;
}

/** What an upload moved: bytes sent, and bytes of parts a cut push had sent already (kept, not sent again). */
export interface Sent {
  sent: number;
  resumed: number;
}

/** Byte counts as they move, for a progress bar. */
export type OnBytes = (bytes: number) => void;

/** Objects up to this many are looked up one HEAD each; more are listed per two-hex-digit folder. */
const HEAD_LOOKUP_LIMIT = 64;
/** All of a cluster's part URLs are signed at its start: long enough for a slow link's many gigabytes. */
const PART_URL_SECONDS = 12 * 3600;
/** Parts of one object in flight at once. */
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
  /** The first presigned GET URL and its object: the address the others are signed for (presignedGet). */
  private getTemplate?: Promise<{ url: URL; md5: string }>;
  private presigner?: S3RequestPresigner;

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
    return (await this.listObjects(folder)).map((o) => o.md5);
  }

  /**
   * Send objects, several at once. One above the part size goes in parts (`uploadParts`): a cut
   * push resumes the store's pending upload on the next call. Only whole objects become visible.
   */
  async upload(items: Outgoing[], options: { onBytes?: OnBytes; concurrency?: number; signal?: AbortSignal } = {}): Promise<Sent> {
    const part = partSize();
    const sent: Sent = { sent: 0, resumed: 0 };
    await mapLimit(items, options.concurrency ?? DEFAULT_CONCURRENCY, async (item) => {
      options.signal?.throwIfAborted();
      if (isMultipart(item.size, part)) return this.uploadParts(item, part, sent, options.onBytes, options.signal);
      const key = objectKey(this.config.location, item.md5);
      let reported = 0;
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key: key, Body: createReadStream(item.path), ContentLength: item.size },
        partSize: Math.max(part, MIN_PART_SIZE),
        queueSize: 1,
        leavePartsOnError: false,
        ...(options.signal ? { abortController: controllerOf(options.signal) } : {}),
      });
      upload.on('httpUploadProgress', (p) => {
        if (p.loaded === undefined) return;
        options.onBytes?.(p.loaded - reported);
        reported = p.loaded;
      });
      try {
        await upload.done();
      } catch (err) {
        throw this.fail(err, key);
      }
      sent.sent += item.size;
    });
    return sent;
  }

  /**
   * One object in parts. A pending multipart upload of the same key (a push cut earlier: the key is
   * the content's md5, so its parts are the same bytes) is resumed: each part it lists whose size
   * and ETag match this file's part is kept, the rest are sent. Parts are not trusted blindly: an
   * ETag that is not the part's md5 (some stores, encrypted buckets) just sends that part again.
   * The object appears only on completion, and is checked by size then.
   */
  private async uploadParts(item: Outgoing, part: number, sent: Sent, onBytes: OnBytes | undefined, signal: AbortSignal | undefined): Promise<void> {
    const key = objectKey(this.config.location, item.md5);
    const plan = planParts(item.size, part);
    const call = async <T>(p: Promise<T>): Promise<T> =>
      p.catch((err: unknown) => {
        throw this.fail(err, key);
      });
    let uploadId = await this.pendingUpload(key);
    const have = new Map<number, { etag: string; size: number }>();
    if (uploadId) {
      let marker: string | undefined;
      do {
        const page = await call(this.client.send(new ListPartsCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker })));
        for (const p of page.Parts ?? []) {
          const etag = parseEtag(p.ETag);
          if (p.PartNumber && etag && p.Size !== undefined) have.set(p.PartNumber, { etag, size: p.Size });
        }
        marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
      } while (marker);
    } else {
      uploadId = (await call(this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key })))).UploadId;
      if (!uploadId) throw this.fail(new Error('the store gave no upload id for a multipart upload'), key);
    }
    const etags = new Array<string>(plan.length);
    await mapLimit(plan, PARTS_IN_FLIGHT, async (p) => {
      signal?.throwIfAborted();
      const md5 = await md5OfRange(item.path, p.start, p.length);
      const listed = have.get(p.number);
      if (listed && listed.size === p.length && listed.etag === md5) {
        etags[p.number - 1] = listed.etag;
        sent.resumed += p.length;
        onBytes?.(p.length);
        return;
      }
      for (let attempt = 1; ; attempt++) {
        let reached = 0;
        const file = createReadStream(item.path, { start: p.start, end: p.start + p.length - 1 });
        // Counted as the SDK reads it (a 'data' listener on the file would start it flowing before the SDK reads).
        const body = file.pipe(
          new Transform({
            transform(chunk: Buffer, _enc, done) {
              reached += chunk.length;
              onBytes?.(chunk.length);
              done(null, chunk);
            },
          }),
        );
        try {
          const res = await this.client.send(
            new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: p.number, Body: body, ContentLength: p.length, ContentMD5: Buffer.from(md5, 'hex').toString('base64') }),
            { abortSignal: signal },
          );
          const etag = parseEtag(res.ETag);
          if (!etag) throw new Error(`the store answered part ${p.number} with no ETag`);
          etags[p.number - 1] = etag;
          sent.sent += p.length;
          return;
        } catch (err) {
          file.destroy();
          body.destroy();
          onBytes?.(-reached); // what the failed attempt read is sent again
          if (signal?.aborted || attempt >= RESUME_ATTEMPTS || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 403) throw this.fail(err, key);
        }
      }
    });
    await call(
      this.client.send(
        new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag: `"${ETag}"`, PartNumber: i + 1 })) } }),
      ),
    );
    await this.checkSize(key, item.size);
  }

  /** The most recent multipart upload of `key` the store holds unfinished, if any. */
  private async pendingUpload(key: string): Promise<string | undefined> {
    const page = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: key })).catch((err: unknown) => {
      // Credentials allowed to write but not to list pending uploads: no resume, a fresh upload.
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 403) return { Uploads: [] };
      throw this.fail(err, key);
    });
    const mine = (page.Uploads ?? []).filter((u) => u.Key === key && u.UploadId);
    mine.sort((a, b) => (b.Initiated?.getTime() ?? 0) - (a.Initiated?.getTime() ?? 0));
    return mine[0]?.UploadId;
  }

  /** The stored object has `size` bytes; else it is deleted (never left looking whole) and this fails. */
  async checkSize(key: string, size: number): Promise<void> {
    const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })).catch((err: unknown) => {
      throw this.fail(err, key);
    });
    if (head.ContentLength !== size) {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })).catch(() => undefined);
      throw backendUnavailable(`the data store ${this.url} holds ${head.ContentLength ?? 'no'} bytes for ${key} after its upload, not ${size}; it was deleted: push again (reprise data push)`);
    }
  }

  /**
   * A multipart upload a cluster sends itself: the store's upload id and one presigned UploadPart
   * URL per part of `plan`, for `key` = the md5 it computed there. Completed (or aborted) by us.
   */
  async presignedMultipart(md5: string, size: number, expiresInSeconds = PART_URL_SECONDS): Promise<{ uploadId: string; parts: (Part & { url: string })[] }> {
    const key = objectKey(this.config.location, md5);
    const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key })).catch((err: unknown) => {
      throw this.fail(err, key);
    });
    const uploadId = created.UploadId;
    if (!uploadId) throw this.fail(new Error('the store gave no upload id for a multipart upload'), key);
    const parts = await mapLimit(planParts(size), 16, async (p) => ({
      ...p,
      url: await getSignedUrl(this.client, new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: p.number }), { expiresIn: expiresInSeconds }),
    }));
    return { uploadId, parts };
  }

  /** Make a cluster's multipart upload one object from its parts' ETags (in part order), and check its size. */
  async completeMultipart(md5: string, uploadId: string, etags: string[], size: number): Promise<void> {
    const key = objectKey(this.config.location, md5);
    await this.client
      .send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: etags.map((e, i) => ({ ETag: `"${e}"`, PartNumber: i + 1 })) } }))
      .catch((err: unknown) => {
        throw this.fail(err, key);
      });
    await this.checkSize(key, size);
  }

  /** Drop an unfinished multipart upload and the parts it holds (a run stopped mid-upload leaves none). */
  async abortMultipart(md5: string, uploadId: string): Promise<void> {
    const key = objectKey(this.config.location, md5);
    await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId })).catch((err: unknown) => {
      // Already gone (completed or aborted) is what we wanted.
      if ((err as { name?: string }).name === 'NoSuchUpload') return;
      throw this.fail(err, key);
    });
  }

  /** Every object of the layout (files/md5/…) under this store's prefix, or in one of its two-hex `folder`s, with its size and age. */
  async listObjects(folder = ''): Promise<StoredObject[]> {
    // The key of a made-up object in `folder` ("xx" for all of them), cut after the layout's folder level.
    const prefix = objectKey(this.config.location, `${folder || 'xx'}x`).slice(0, folder ? -1 : -'xx/x'.length);
    const out: StoredObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token })).catch((err: unknown) => {
        throw this.fail(err);
      });
      for (const o of page.Contents ?? []) {
        const md5 = o.Key && md5OfKey(this.config.location, o.Key);
        if (md5) out.push({ md5, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  /** Delete objects by md5, several at once (one request each: S3-compatibles differ in DeleteObjects' checksums). */
  async deleteObjects(md5s: string[], onDeleted?: (md5: string) => void): Promise<void> {
    await mapLimit(md5s, DEFAULT_CONCURRENCY, async (md5) => {
      const key = objectKey(this.config.location, md5);
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })).catch((err: unknown) => {
        throw this.fail(err, key);
      });
      onDeleted?.(md5);
    });
  }

  /** Unfinished multipart uploads under this store's prefix (for tests and housekeeping). */
  async pendingUploads(): Promise<{ key: string; uploadId: string; initiated?: Date }[]> {
    const prefix = this.config.location.prefix ? `${this.config.location.prefix}/` : '';
    const out: { key: string; uploadId: string }[] = [];
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    do {
      const page = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: idMarker })).catch((err: unknown) => {
        throw this.fail(err);
      });
      for (const u of page.Uploads ?? []) if (u.Key && u.UploadId) out.push({ key: u.Key, uploadId: u.UploadId, ...(u.Initiated ? { initiated: u.Initiated } : {}) });
      [keyMarker, idMarker] = page.IsTruncated ? [page.NextKeyMarker, page.NextUploadIdMarker] : [undefined, undefined];
    } while (keyMarker);
    return out;
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
    const out = createWriteStream(part, { flags: from > 0 ? 'a' : 'w' });
    try {
      await pipeline(body, out);
    } catch (err) {
      // A cut body ends the pipeline while the file's last write may still be landing: wait for
      // the file to close, so the next attempt (or a later pull) resumes from where it really ends.
      if (!out.closed) await once(out, 'close');
      throw err;
    }
  }

  /**
   * A GET URL anyone holding it may use until it expires: how clusters fetch without our
   * credentials. The SDK signs the first one (endpoint, path style, signing region resolved its
   * way); the others reuse its address with their own key and are only signed (SigV4), since a
   * run presigns every object it stages: 2,000 URLs took 3.9 s through getSignedUrl, 0.3 s so.
   */
  async presignedGet(md5: string, expiresInSeconds = 3600): Promise<string> {
    const sdk = () => getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: objectKey(this.config.location, md5) }), { expiresIn: expiresInSeconds });
    if (!this.getTemplate) {
      const first = sdk();
      this.getTemplate = first.then((url) => ({ url: new URL(url), md5 }));
      // A failed first signing is no template: the next call tries again.
      this.getTemplate.catch(() => (this.getTemplate = undefined));
      return first;
    }
    const { url, md5: was } = await this.getTemplate;
    const tail = `/${was.slice(0, 2)}/${was.slice(2)}`;
    const region = /^[^/]+\/\d{8}\/([^/]+)\/s3\/aws4_request$/.exec(url.searchParams.get('X-Amz-Credential') ?? '')?.[1];
    // Only a plain SigV4 query-signed URL ending with the object's key is a template; else the SDK signs each.
    if (!url.pathname.endsWith(tail) || !region) return sdk();
    this.presigner ??= new S3RequestPresigner({ ...this.client.config });
    const signed = await this.presigner.presign(
      {
        method: 'GET',
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port ? Number(url.port) : undefined,
        path: `${url.pathname.slice(0, -tail.length)}/${md5.slice(0, 2)}/${md5.slice(2)}`,
        query: {},
        headers: { host: url.host },
      },
      { expiresIn: expiresInSeconds, signingRegion: region, signingService: 's3' },
    );
    const query = new URLSearchParams(Object.entries(signed.query ?? {}).flatMap(([k, v]) => (v === null ? [] : Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]]))).toString();
    return `${url.origin}${signed.path}?${query}`;
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

/** The md5 of `length` bytes of `path` from `start`, read as a stream. */
async function md5OfRange(path: string, start: number, length: number): Promise<string> {
  const hash = createHash('md5');
  if (length > 0) for await (const chunk of createReadStream(path, { start, end: start + length - 1, highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** An AbortController that aborts with `signal` (lib-storage takes a controller, not a signal). */
function controllerOf(signal: AbortSignal): AbortController {
  const c = new AbortController();
  if (signal.aborted) c.abort(signal.reason);
  else signal.addEventListener('abort', () => c.abort(signal.reason), { once: true });
  return c;
}
