// Tracked inputs staged by digest on the real SLURM test cluster (Charliecloud) from the real
// object store (SeaweedFS): the login node fetches presigned URLs into the cluster's data cache,
// a second run moves no data, bad bytes are refused, and a cluster set to `ship` gets the objects
// from the worker. The job sees input/ exactly as a Docker job does. Needs `test/infra/slurm up`
// and `test/infra/s3 up`.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { stageDataFor } from '../../../src/activities/data-staging.js';
import { DockerBackend } from '../../../src/backends/docker/docker-backend.js';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import type { Backend, JobHandle, StageData } from '../../../src/backends/types.js';
import type { RunInputFile } from '../../../src/data/run-data.js';
import { objectKey } from '../../../src/data/store/location.js';
import { setDataRemote } from '../../../src/data/store/remote.js';
import { pushCachedObjects } from '../../../src/data/run-data.js';
import { dockerClient } from '../../../src/images/engine.js';
import { RepriseError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/project.js';
import { cachedInputs, countedStaging, md5Listing, sourcesWith } from './tracked-inputs.js';
import { buildTestImage, clusterConfig } from '../slurm/slurm-backend-env.js';
import { s3Env, type S3Env } from './s3-env.js';

const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const workdir = `~/reprise-it/data-${suite}`;
const tag = `reprise-data-it:${suite}`;
const slurm = new SlurmBackend(clusterConfig(workdir), { logPollMs: 300 });
const handles: { backend: Backend; handle: JobHandle }[] = [];
let s3: S3Env;
let raw: S3Client;
let root: string;
let digest: string;
let files: RunInputFile[];
/** What the job prints: every input file's md5 and path, then whether a write into input/ succeeds. */
const command = ['sh', '-c', 'find input -type f -exec md5sum {} + | LC_ALL=C sort -k 2; if (printf x >> input/table.bin) 2>/dev/null; then echo writable; else echo read-only; fi'];

/** The project's tracked inputs: a file and a folder with a subfolder, a few MB, in the local cache. */
const trackedInputs = () =>
  cachedInputs(root, {
    'input/table.bin': randomBytes(3 * 2 ** 20),
    'input/images/a.bin': randomBytes(700_000),
    'input/images/b.txt': Buffer.from(`b ${suite}\n`),
    'input/images/sub/c.bin': randomBytes(1_200_000),
    'input/images/sub/with space.txt': Buffer.from(`spaced ${suite}\n`),
  });
const sources = async (withInputs = false) => sourcesWith(await tempDir('reprise-data-src-'), root, files, withInputs);
const counted = () => countedStaging(root, files);

async function run(backend: Backend, name: string, data?: StageData): Promise<string> {
  const runId = `${suite}-${name}`;
  const staged = await backend.stage({ runId, image: { digest, tag }, sourcesDir: await sources(backend instanceof DockerBackend), readOnly: ['input/table.bin', 'input/images'], data });
  const handle = await backend.submit({ runId, command, env: {}, resources: {}, staged });
  handles.push({ backend, handle });
  let text = '';
  for await (const chunk of (await backend.logs(handle)) as Readable) text += String(chunk);
  return text;
}

const expected = () => md5Listing(files) + 'read-only\n';

beforeAll(async () => {
  s3 = s3Env();
  Object.assign(process.env, s3.writerEnv);
  raw = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: s3.region, credentials: { accessKeyId: s3.writerEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.writerEnv.AWS_SECRET_ACCESS_KEY! } });
  digest = buildTestImage(tag);
  root = await tempDir('reprise-data-cluster-');
  files = await trackedInputs();
  await setDataRemote(root, `s3://${s3.bucket}/cluster-${suite}`, s3.endpoint);
  await pushCachedObjects(root, files);
}, 600_000);

afterAll(async () => {
  for (const { backend, handle } of handles) await backend.cleanup(handle).catch(() => undefined);
  await slurm.ssh.exec(['sh', '-c', 'chmod -R u+w "$HOME/reprise-it/$1" 2>/dev/null; rm -rf "$HOME/reprise-it/$1"', 'sh', `data-${suite}`]).catch(() => undefined);
  slurm.close();
  raw?.destroy();
  try {
    execFileSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
});

describe('tracked inputs staged by digest on SLURM', () => {
  it('the login node fetches them from the store; the job sees input/ as on Docker, read-only; a second run moves 0 bytes and asks the store nothing', async () => {
    const first = await counted();
    const out = await run(slurm, 'first', first.data);
    first.close();
    expect(out).toBe(expected());
    expect(first.staged).toEqual([{ fetched: files.length, fetchedBytes: files.reduce((n, f) => n + f.size, 0), shipped: 0, shippedBytes: 0, cached: 0 }]);
    expect(first.calls).toEqual({ has: 1, presign: files.length });

    const docker = await run(new DockerBackend(dockerClient()), 'docker');
    expect(out).toBe(docker);

    const second = await counted();
    const again = await run(slurm, 'second', second.data);
    second.close();
    expect(again).toBe(expected());
    expect(second.staged).toEqual([{ fetched: 0, fetchedBytes: 0, shipped: 0, shippedBytes: 0, cached: files.length }]);
    expect(second.calls).toEqual({ has: 0, presign: 0 });
    // The objects are not in the sources archive either: the project holds links to the cache.
    const links = await slurm.ssh.run(['sh', '-c', 'stat -c %h "$1"', 'sh', `${(await slurm.check()).details.workdir}/runs/${suite}-second/project/input/table.bin`]);
    expect(Number(links.trim())).toBeGreaterThanOrEqual(2);
  });

  it('an object a job made writable and changed in the cluster cache is dropped and fetched again before the next run uses it', async () => {
    const table = files.find((f) => f.path === 'input/table.bin')!;
    const object = `${(await slurm.check()).details.workdir}/data-cache/files/md5/${table.md5.slice(0, 2)}/${table.md5.slice(2)}`;
    await slurm.ssh.run(['sh', '-c', 'chmod u+w "$1" && printf x >> "$1"', 'sh', object]);
    const again = await counted();
    expect(await run(slurm, 'tampered', again.data)).toBe(expected());
    again.close();
    expect(again.staged).toEqual([{ fetched: 1, fetchedBytes: table.size, shipped: 0, shippedBytes: 0, cached: files.length - 1 }]);
  });

  it('an object whose bytes in the store do not match its digest is refused with one line and never lands in the cluster cache', async () => {
    const bad = { path: 'input/bad.bin', md5: createHash('md5').update(`good ${suite}`).digest('hex'), size: 9 };
    await raw.send(new PutObjectCommand({ Bucket: s3.bucket, Key: objectKey({ bucket: s3.bucket, prefix: `cluster-${suite}` }, bad.md5), Body: 'not good!' }));
    const { data, close } = await stageDataFor(root, [bad], { info: () => undefined, warn: () => undefined });
    const err = await slurm.stage({ runId: `${suite}-bad`, image: { digest, tag }, sourcesDir: await sources(), readOnly: ['input/bad.bin'], data }).catch((e: unknown) => e);
    close();
    expect(err).toBeInstanceOf(RepriseError);
    expect((err as RepriseError).message).toMatch(new RegExp(`^the data store's object ${bad.md5} does not match its digest \\(the login node .* got bytes with md5 [0-9a-f]{32}\\); it was refused, not used`));
    expect((err as RepriseError).message).not.toContain('\n');
    const cache = `${(await slurm.check()).details.workdir}/data-cache/files/md5/${bad.md5.slice(0, 2)}`;
    expect((await slurm.ssh.run(['sh', '-c', 'ls -A "$1" 2>/dev/null; exit 0', 'sh', cache])).trim()).toBe('');
  });

  it('a login node that cannot connect to the store (dataEndpoint where nothing listens) gets the objects shipped from the worker instead', async () => {
    const cut = new SlurmBackend({ ...clusterConfig(`${workdir}/cut`), dataEndpoint: 'http://127.0.0.1:9' }, { logPollMs: 300 });
    try {
      const first = await counted();
      expect(await run(cut, 'cut', first.data)).toBe(expected());
      first.close();
      expect(first.staged).toEqual([{ fetched: 0, fetchedBytes: 0, shipped: files.length, shippedBytes: files.reduce((n, f) => n + f.size, 0), cached: 0 }]);
      expect(first.calls).toEqual({ has: 1, presign: files.length });
    } finally {
      cut.close();
    }
  });

  it('dataStaging: ship sends the objects from the worker once into the cluster cache, verified the same way', async () => {
    const shipping = new SlurmBackend({ ...clusterConfig(`${workdir}/ship`), dataStaging: 'ship' }, { logPollMs: 300 });
    try {
      const first = await counted();
      expect(await run(shipping, 'ship1', first.data)).toBe(expected());
      first.close();
      expect(first.staged).toEqual([{ fetched: 0, fetchedBytes: 0, shipped: files.length, shippedBytes: files.reduce((n, f) => n + f.size, 0), cached: 0 }]);
      expect(first.calls).toEqual({ has: 0, presign: 0 });
      const second = await counted();
      expect(await run(shipping, 'ship2', second.data)).toBe(expected());
      second.close();
      expect(second.staged).toEqual([{ fetched: 0, fetchedBytes: 0, shipped: 0, shippedBytes: 0, cached: files.length }]);
    } finally {
      shipping.close();
    }
  });
});
