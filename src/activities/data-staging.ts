import type { DataFile, DataFolder, DataStaged, DataStoreAccess, OutputStoreAccess, StageData } from '../backends/types.js';
import { cacheObjectPath, localCacheDir } from '../data/cache.js';
import { cacheLargeOutputs, pushCachedObjects, type RunInputFile } from '../data/run-data.js';
import type { UnsentOutputs } from '../project/run-record.js';
import { openStore, readDataRemote, type DataRemote } from '../data/store/remote.js';
import type { S3Store } from '../data/store/s3-store.js';
import { formatBytes } from '../data/size.js';
import { errorMessage, RepriseError } from '../errors.js';

/**
 * What a backend needs to stage a run's tracked inputs by digest: the files (and the tracked folders they are in), the local cache
 * to ship from, and the project's data store (when it has one) to have the cluster fetch from.
 * `close` lets go of the store's connections.
 */
export async function stageDataFor(
  root: string,
  files: RunInputFile[],
  notes: { info(line: string, fields: object): void; warn(line: string, fields: object): void },
  commit?: string,
  folders: DataFolder[] = [],
): Promise<{ data: StageData; close(): void; staged(): DataStaged | undefined }> {
  const cacheDir = await localCacheDir(root);
  const remote = await readDataRemote(root, commit).catch(() => undefined);
  const { storeFor, close } = storesOf(remote);
  let store: DataStoreAccess | undefined;
  let summary: DataStaged | undefined;
  if (remote?.url.startsWith('s3://')) {
    store = {
      // A store this worker cannot use (no credentials, unreachable) is no reason to fail: the objects are shipped.
      has: async (md5s) =>
        storeFor(undefined)
          .has(md5s)
          .catch((err: unknown) => {
            notes.warn(`the data store is not usable from this worker (${errorMessage(err)}); shipping the data from the local cache`, {});
            return new Set<string>();
          }),
      presignGet: (md5, endpoint, expires) => storeFor(endpoint).presignedGet(md5, expires),
    };
  }
  const data: StageData = {
    files,
    folders,
    localObject: (md5) => cacheObjectPath(cacheDir, md5),
    store,
    onStaged: (s: DataStaged) => {
      summary = s;
      notes.info(stagedLine(s), { data: s });
    },
    note: (line) => notes.warn(line, {}),
  };
  return { data, close, staged: () => summary };
}

/** One line on what staging moved: the figure that shows a second run moved no data. */
export function stagedLine(s: DataStaged): string {
  return `data staged: ${s.fetched} object(s) fetched from the store by the cluster (${formatBytes(s.fetchedBytes)}), ${s.shipped} shipped (${formatBytes(s.shippedBytes)}), ${s.cached} already cached there`;
}

/**
 * The project's data store as a collect sends large outputs to it from where the run ran, or
 * undefined without an S3 remote (the outputs then come back and go into the local cache).
 */
export async function outputStoreFor(root: string, options: { commit?: string; signal?: AbortSignal } = {}): Promise<{ store: OutputStoreAccess; close(): void } | undefined> {
  const { commit, signal } = options;
  const remote = await readDataRemote(root, commit).catch(() => undefined);
  if (!remote?.url.startsWith('s3://')) return undefined;
  const { storeFor, close } = storesOf(remote);
  return {
    store: {
      has: (md5s) => storeFor().has(md5s),
      presignPut: (md5, endpoint) => storeFor(endpoint).presignedPut(md5),
      // Signed for the endpoint the cluster reaches; joined and aborted from here, over ours.
      startMultipart: (md5, size, endpoint) => storeFor(endpoint).presignedMultipart(md5, size),
      completeMultipart: (md5, uploadId, etags, size) => storeFor().completeMultipart(md5, uploadId, etags, size),
      abortMultipart: (md5, uploadId) => storeFor().abortMultipart(md5, uploadId),
      ...(signal ? { signal } : {}),
    },
    close,
  };
}

/** One client per endpoint the data remote is reached at (a cluster's address signs its URLs), opened when first asked for. */
function storesOf(remote: DataRemote | undefined): { storeFor(endpoint?: string): S3Store; close(): void } {
  const stores = new Map<string, S3Store>();
  return {
    storeFor: (endpoint) => {
      let store = stores.get(endpoint ?? '');
      if (!store) stores.set(endpoint ?? '', (store = openStore({ ...remote!, ...(endpoint ? { endpoint } : {}) })));
      return store;
    },
    close: () => stores.forEach((s) => s.destroy()),
  };
}

/**
 * The large outputs a backend brought back rather than sent itself (Docker's always, a cluster's
 * that could not reach the store) go into the local cache, their pointers into `outputsDir`, and
 * from the cache to the project's data store, before the record points at them. What the store
 * holds already is not sent again (a retried collect). A store that cannot take them (unreachable,
 * credentials refused) loses nothing: they stay in the local cache and `unsent` says so for the
 * record. Cancellation stops the upload; a multipart upload cut midway is resumed by the next push.
 */
export async function sendCollectedOutputs(
  root: string,
  outputsDir: string,
  threshold: number,
  stored: DataFile[],
  options: { signal?: AbortSignal; onBytes?: (bytes: number) => void } = {},
): Promise<{ sent: DataFile[]; bytes: number; unsent?: UnsentOutputs }> {
  const { outputs } = await cacheLargeOutputs(root, outputsDir, threshold, new Set(stored.map((o) => o.md5)));
  const inStore = new Set(stored.map((o) => o.md5));
  const toSend = outputs.filter((o) => !inStore.has(o.md5));
  if (!toSend.length) return { sent: [], bytes: 0 };
  try {
    const bytes = await pushCachedObjects(root, toSend, undefined, options);
    return { sent: toSend, bytes };
  } catch (err) {
    // Cancelled (the worker is going away): the activity ends; a retry resumes the upload.
    if (options.signal?.aborted || !(err instanceof RepriseError)) throw err;
    const store = (await readDataRemote(root).catch(() => undefined))?.url ?? 'the data remote';
    return { sent: [], bytes: 0, unsent: { store, reason: err.message, paths: toSend.map((o) => o.path) } };
  }
}
