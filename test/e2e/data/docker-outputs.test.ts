// The built CLI running on the local Docker engine, the data remote on the real object store
// (SeaweedFS from test/infra/s3): a large output is in the store when the run ends, before any
// sync (read back with a raw S3 client, by digest), and is not sent again by a run that made the
// same bytes; a store that is unreachable or refuses the credentials loses nothing (the run is
// recorded, the output stays in the local cache, one warning line, `show` says the upload is
// pending, `data push` sends it later); without a data remote the output stays in the local cache.
// Needs `test/infra/s3 up`, the Docker engine with local/busybox:latest and `npm run build`.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Cli, cliEnv, freePort, requireFreshBuild } from '../../helpers/cli.js';
import { git, tempDir } from '../../helpers/project.js';
import { BUSYBOX } from '../../helpers/docker.js';
import { cacheObjectPath, localCacheDir } from '../../../src/data/cache.js';
import { objectKey } from '../../../src/data/store/location.js';
import { PART_SIZE_ENV } from '../../../src/data/store/multipart.js';
import { s3Env, type S3Env } from '../../integration/data/s3-env.js';

const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const prefix = `docker-out-${suite}`;
const MiB = 2 ** 20;
/** Above the 5 MiB part size the worker is given: the output goes in three parts. */
const BIG = 12 * MiB;

interface DataRef {
  path: string;
  md5: string;
  size: number;
}
interface RunRecord {
  runId: string;
  state: string;
  data?: { inputs: DataRef[]; outputs: DataRef[]; unsent?: { store: string; reason: string; paths: string[] } };
}

let s3: S3Env;
let cli: Cli;
let raw: S3Client;
const dirs: string[] = [];

async function dir(name: string): Promise<string> {
  const d = await tempDir(name);
  dirs.push(d);
  return d;
}

/** A project on busybox whose outputs above 1 MB are data; with the data remote on the store unless `remote` is false. */
async function project(name: string, remote = true): Promise<string> {
  const work = await dir('reprise-e2e-docker-out-');
  const init = await cli.run(['init', name, '--name', name, '--base', BUSYBOX], work);
  expect(init.code, init.stderr).toBe(0);
  const root = join(work, name);
  const spec = await readFile(join(root, '.reprise/project.yaml'), 'utf8');
  await writeFile(join(root, '.reprise/project.yaml'), `${spec}data:\n  autoTrack: 1000000\n`);
  git(root, 'commit', '-qam', 'outputs above 1 MB are data');
  if (remote) {
    const set = await cli.run(['data', 'remote', 'set', `s3://${s3.bucket}/${prefix}/${name}`, '--endpoint', s3.endpoint], root);
    expect(set.code, set.stderr).toBe(0);
  }
  return root;
}

/** Run `script` on Docker; its record as `show --json` gives it. */
async function runOn(root: string, script: string): Promise<{ record: RunRecord; stderr: string; commit: string }> {
  const r = await cli.run(['run', '--', 'sh', '-c', script], root);
  expect(r.code, r.stderr).toBe(0);
  const [entry] = await cli.json<{ runId: string; commit: string }[]>(['log', '-n', '1'], root);
  return { record: await cli.json<RunRecord>(['show', entry!.runId], root), stderr: r.stderr, commit: entry!.commit };
}

const keyOf = (name: string, hash: string) => objectKey({ bucket: s3.bucket, prefix: `${prefix}/${name}` }, hash);

/** The object's bytes as the store gives them to anyone, or undefined when it lacks it. */
async function stored(key: string): Promise<Buffer | undefined> {
  try {
    const res = await raw.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    return Buffer.from(await res.Body!.transformToByteArray());
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

beforeAll(async () => {
  requireFreshBuild();
  s3 = s3Env();
  dirs.push(join(s3.credentialsFile, '..'));
  raw = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: s3.region, credentials: { accessKeyId: s3.writerEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.writerEnv.AWS_SECRET_ACCESS_KEY! } });
  const home = await dir('reprise-e2e-docker-out-home-');
  // The worker the first command starts inherits this environment: the writer's credentials and small parts.
  cli = new Cli({ ...(await cliEnv(home)), AWS_SHARED_CREDENTIALS_FILE: s3.credentialsFile, AWS_PROFILE: 'writer', AWS_REGION: s3.region, [PART_SIZE_ENV]: String(5 * MiB) });
}, 120_000);

afterAll(async () => {
  if (cli && dirs[1]) await cli.run(['agent', 'stop'], dirs[1]).catch(() => undefined);
  if (raw) {
    const listed = await raw.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}/` })).catch(() => undefined);
    const keys = (listed?.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
    if (keys.length) await raw.send(new DeleteObjectsCommand({ Bucket: s3.bucket, Delete: { Objects: keys } })).catch(() => undefined);
    raw.destroy();
  }
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}, 120_000);

describe("a Docker run's large outputs and the data store", () => {
  it('a large output is in the store when the run ends, before any sync, verified by digest; a run that made the same bytes sends nothing again', async () => {
    const root = await project('sent');
    // Same bytes every time (a retried or repeated run), in three 5 MiB parts.
    const script = `yes reprise-${suite} | head -c ${BIG} > output/model.bin; echo small > output/small.txt`;
    const first = await runOn(root, script);
    expect(first.stderr).not.toContain('warning');
    const [model] = first.record.data!.outputs;
    expect(first.record.data!.outputs).toHaveLength(1);
    expect(model).toMatchObject({ path: 'output/model.bin', size: BIG });
    expect(first.record.data!.unsent).toBeUndefined();

    // In the store now, by the md5 the pointer names: whole and byte-exact.
    const bytes = await stored(keyOf('sent', model!.md5));
    expect(bytes?.length).toBe(BIG);
    expect(md5(bytes!)).toBe(model!.md5);
    // The record commits the pointer, never the bytes; the bytes are in the working tree from the local cache too.
    const tree = git(root, 'ls-tree', '-r', '--name-only', first.commit).split('\n');
    expect(tree).toEqual(expect.arrayContaining(['output/model.bin.dvc', 'output/small.txt']));
    expect(tree).not.toContain('output/model.bin');
    expect(md5(await readFile(join(root, 'output/model.bin')))).toBe(model!.md5);
    const show = await cli.run(['show', first.record.runId], root);
    expect(show.stdout).not.toContain('upload');
    // Sent in parts (a multipart object's ETag counts them), joined into one object.
    const head = await raw.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: keyOf('sent', model!.md5) }));
    expect(head.ETag).toMatch(/-3"$/);

    // The same bytes again: the store holds them, nothing is uploaded (the object is the first upload's).
    await new Promise((r) => setTimeout(r, 1100)); // the store's times are to the second
    const second = await runOn(root, script);
    expect(second.record.data!.outputs).toEqual(first.record.data!.outputs);
    expect(second.record.data!.unsent).toBeUndefined();
    const again = await raw.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: keyOf('sent', model!.md5) }));
    expect(again.LastModified).toEqual(head.LastModified);
    expect(again.ETag).toBe(head.ETag);
  });

  it('an unreachable store or refused credentials: the run is recorded, the output stays in the local cache, one warning line, show says the upload is pending; data push sends it later', async () => {
    const root = await project('down');
    const url = `s3://${s3.bucket}/${prefix}/down`;
    const port = await freePort();
    const cases = [
      { local: `['remote "storage"']\n    endpointurl = http://127.0.0.1:${port}\n`, reason: `the data store ${url} is unreachable at http://127.0.0.1:${port} (ECONNREFUSED); check the endpoint (reprise data remote show) and your network` },
      { local: `['remote "storage"']\n    profile = stranger\n`, reason: `the data store ${url} at ${s3.endpoint} refused your credentials` },
    ];
    const made: DataRef[] = [];
    for (const [i, c] of cases.entries()) {
      // Each user's own override of the remote (git-ignored), as DVC reads it.
      await writeFile(join(root, '.dvc/config.local'), c.local);
      const run = await runOn(root, `head -c ${2 * MiB} /dev/urandom > output/big${i}.bin`);
      expect(run.record.state).toBe('succeeded');
      const [big] = run.record.data!.outputs;
      expect(big).toMatchObject({ path: `output/big${i}.bin`, size: 2 * MiB });
      made.push(big!);
      expect(run.record.data!.unsent).toMatchObject({ store: url, paths: [`output/big${i}.bin`] });
      expect(run.record.data!.unsent!.reason).toContain(c.reason);
      const warnings = run.stderr.split('\n').filter((l) => l.startsWith('warning:'));
      expect(warnings).toEqual([expect.stringContaining(`warning: 1 large output(s) stayed in the local cache, not sent to the data store: ${c.reason}`)]);
      expect(warnings[0]).toMatch(/reprise sync or reprise data push sends them$/);
      expect(await stored(keyOf('down', big!.md5))).toBeUndefined();
      // Nothing lost: the bytes are here, the pointer in the record commit.
      expect(md5(await readFile(join(root, big!.path)))).toBe(big!.md5);
      expect(git(root, 'show', `${run.commit}:${big!.path}.dvc`)).toContain(`md5: ${big!.md5}`);
      const show = await cli.run(['show', run.record.runId], root);
      expect(show.stdout).toContain(`${big!.path}  ${2 * MiB} B  md5:${big!.md5} (upload pending, in the local cache; git holds ${big!.path}.dvc)`);
      expect(show.stdout).toContain('upload     pending when recorded: 1 large output(s) stayed in the local cache');
    }

    // The store back: data push sends what the runs left in the local cache, by digest.
    await rm(join(root, '.dvc/config.local'));
    const push = await cli.run(['data', 'push'], root);
    expect(push.code, push.stderr).toBe(0);
    for (const big of made) expect(md5((await stored(keyOf('down', big.md5)))!)).toBe(big.md5);
  });

  it('without a data remote the large output stays in the local cache: no store, no warning', async () => {
    const root = await project('local', false);
    const run = await runOn(root, `head -c ${2 * MiB} /dev/urandom > output/big.bin`);
    expect(run.stderr).not.toContain('warning');
    const [big] = run.record.data!.outputs;
    expect(big).toMatchObject({ path: 'output/big.bin', size: 2 * MiB });
    expect(run.record.data!.unsent).toBeUndefined();
    expect(md5(await readFile(join(root, 'output/big.bin')))).toBe(big!.md5);
    expect(existsSync(cacheObjectPath(await localCacheDir(root), big!.md5))).toBe(true);
    expect(git(root, 'ls-tree', '-r', '--name-only', run.commit).split('\n')).not.toContain('output/big.bin');
  });
});
