// The built CLI against a real object store (SeaweedFS from test/infra/s3) and real DVC
// (pip install dvc dvc-s3): push and pull through `sync`/`clone`, partial pulls, DVC reading what
// Reprise pushed and the reverse, the one-line refusals, and a download killed mid-object.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Cli, cliEnv, collect, freePort, type CliResult } from '../../helpers/cli.js';
import { git, repoState, tempDir } from '../../helpers/project.js';
import { bareRemote, fakeRunRecord } from '../../helpers/sync.js';
import { addFileToCache, cacheObjectPath, localCacheDir } from '../../../src/data/cache.js';
import { serializePointer } from '../../../src/data/format.js';
import { recordRun, snapshotSources } from '../../../src/project/history.js';
import { md5File } from '../../../src/data/hash.js';
import { objectKey } from '../../../src/data/store/location.js';
import { s3Env, type S3Env } from '../../integration/data/s3-env.js';

let s3: S3Env;
let cli: Cli;
let work: string;
let raw: S3Client;
const run = `${process.pid}-${Date.now()}`;

/** DVC from PyPI (pip install --user dvc dvc-s3): the external client. */
const dvcBin = [join(homedir(), '.local/bin/dvc'), '/usr/local/bin/dvc', '/usr/bin/dvc'].find(existsSync);

function dvc(cwd: string, ...args: string[]): string {
  return execFileSync(dvcBin!, args, { cwd, encoding: 'utf8', env: { ...cli.env, DVC_NO_ANALYTICS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

const failure = (r: CliResult) => ({ code: r.code, error: r.stderr.trimEnd().split('\n').at(-1) });

async function ok(args: string[], cwd: string): Promise<string> {
  const r = await cli.run(args, cwd);
  expect(r.code, `reprise ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function write(root: string, files: Record<string, Buffer | string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

async function sameBytes(a: string, b: string): Promise<boolean> {
  return (await readFile(a)).equals(await readFile(b));
}

/** A project with a tracked file and a tracked folder (two subfolders), its data remote set, synced to a fresh bare remote. */
async function pushedProject(name: string) {
  const remote = await bareRemote();
  await ok(['init', name, '--name', name, '--base', 'local/busybox:latest'], work);
  const root = join(work, name);
  await write(root, {
    'input/train.csv': randomBytes(3 * 2 ** 20),
    'input/images/cats/1.bin': randomBytes(70_000),
    'input/images/cats/2.bin': 'cat two\n',
    'input/images/dogs/1.bin': randomBytes(90_000),
  });
  await ok(['data', 'add', 'input/train.csv', 'input/images'], root);
  const url = `s3://${s3.bucket}/e2e-${run}/${name}`;
  await ok(['data', 'remote', 'set', url, '--endpoint', s3.endpoint], root);
  await ok(['remote', 'add', 'origin', remote], root);
  await ok(['sync'], root);
  return { remote, root, url };
}

beforeAll(async () => {
  s3 = s3Env();
  if (!dvcBin) throw new Error('dvc is not installed: pip install --user dvc dvc-s3');
  work = await tempDir('reprise-e2e-data-');
  const env = await cliEnv(await tempDir('reprise-e2e-data-home-'));
  cli = new Cli({ ...env, AWS_SHARED_CREDENTIALS_FILE: s3.credentialsFile, AWS_PROFILE: 'writer', AWS_REGION: s3.region });
  raw = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: s3.region, credentials: { accessKeyId: s3.writerEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.writerEnv.AWS_SECRET_ACCESS_KEY! } });
});

afterAll(() => raw?.destroy());

describe('data through an object store', () => {
  it('sync pushes the data before the commits; a clean clone gets pointers only; data pull restores a subfolder, then everything, byte-identical', async () => {
    const { remote, root, url } = await pushedProject('alice');
    const config = git(remote, 'show', 'main:.dvc/config');
    expect(config).toContain(`url = ${url}`);
    expect(config).toContain(`endpointurl = ${s3.endpoint}`);
    expect(JSON.parse(await ok(['data', 'remote', 'show', '--json'], root))).toEqual({ remote: { name: 'storage', url, endpoint: s3.endpoint } });

    const cloned = await cli.run(['clone', remote, 'alice-bob'], work);
    expect(cloned.code, cloned.stderr).toBe(0);
    const bob = join(work, 'alice-bob');
    expect(existsSync(join(bob, 'input/train.csv.dvc'))).toBe(true);
    expect(existsSync(join(bob, 'input/train.csv'))).toBe(false);
    expect(existsSync(join(bob, 'input/images'))).toBe(false);

    const partial = JSON.parse(await ok(['data', 'pull', 'input/images/cats', '--json'], bob)) as { transferred: number; restored: string[] };
    expect(partial.transferred).toBe(3); // the folder's manifest and its two cats
    for (const f of ['cats/1.bin', 'cats/2.bin']) expect(await sameBytes(join(bob, 'input/images', f), join(root, 'input/images', f))).toBe(true);
    expect(existsSync(join(bob, 'input/images/dogs'))).toBe(false);
    expect(existsSync(join(bob, 'input/train.csv'))).toBe(false);

    const all = JSON.parse(await ok(['data', 'pull', '--json'], bob)) as { transferred: number };
    expect(all.transferred).toBe(2);
    for (const f of ['train.csv', 'images/cats/1.bin', 'images/cats/2.bin', 'images/dogs/1.bin']) expect(await sameBytes(join(bob, 'input', f), join(root, 'input', f))).toBe(true);
    expect(git(bob, 'status', '--porcelain')).toBe('');
    expect(await ok(['data', 'push'], bob)).toMatch(/has all 5 object\(s\); nothing to push/);
  });

  it('real DVC: dvc pull in a clean git clone gets what Reprise pushed, byte-identical', async () => {
    const { remote, root } = await pushedProject('todvc');
    const clone = join(await tempDir(), 'dvc-clone');
    execFileSync('git', ['clone', '-q', remote, clone]);
    dvc(clone, 'pull');
    for (const f of ['train.csv', 'images/cats/1.bin', 'images/cats/2.bin', 'images/dogs/1.bin']) expect(await sameBytes(join(clone, 'input', f), join(root, 'input', f))).toBe(true);
    expect(dvc(clone, 'status', '--cloud')).toMatch(/in sync/i);
  });

  it('real DVC: what dvc add + dvc push pushed, Reprise clones and pulls, byte-identical', async () => {
    const remote = await bareRemote();
    await ok(['init', 'fromdvc', '--name', 'fromdvc', '--base', 'local/busybox:latest'], work);
    const root = join(work, 'fromdvc');
    await write(root, { 'input/table.bin': randomBytes(1_500_000), 'input/set/a.txt': 'a\n', 'input/set/sub/b.bin': randomBytes(50_000) });
    const url = `s3://${s3.bucket}/e2e-${run}/fromdvc`;
    dvc(root, 'init');
    dvc(root, 'remote', 'add', '-d', 'lab', url);
    dvc(root, 'remote', 'modify', 'lab', 'endpointurl', s3.endpoint);
    dvc(root, 'add', 'input/table.bin', 'input/set');
    dvc(root, 'push');
    git(root, 'add', '-A');
    git(root, 'commit', '-qm', 'data with dvc');
    git(root, 'remote', 'add', 'origin', remote);
    git(root, 'push', '-q', 'origin', 'HEAD:main');

    await ok(['clone', remote, 'fromdvc-reprise'], work);
    const clone = join(work, 'fromdvc-reprise');
    expect(JSON.parse(await ok(['data', 'remote', 'show', '--json'], clone))).toEqual({ remote: { name: 'lab', url, endpoint: s3.endpoint } });
    await ok(['data', 'pull'], clone);
    for (const f of ['table.bin', 'set/a.txt', 'set/sub/b.bin']) expect(await sameBytes(join(clone, 'input', f), join(root, 'input', f))).toBe(true);
  });

  it("data pull --run brings a recorded run's large output, pushed by sync with the record", async () => {
    const { remote, root } = await pushedProject('runout');
    // A run that wrote a large output: in the cache by digest, its pointer and data.outputs in the record.
    const runId = 'run-dataout00001';
    const snap = await snapshotSources(root, runId);
    const made = await tempDir();
    await write(made, { 'model.bin': randomBytes(2 * 2 ** 20) });
    const md5 = await md5File(join(made, 'model.bin'));
    await addFileToCache(await localCacheDir(root), join(made, 'model.bin'), md5, false);
    const outputsDir = join(made, 'outputs');
    await write(outputsDir, { 'model.bin.dvc': serializePointer({ md5, size: 2 * 2 ** 20, path: 'model.bin' }) });
    await write(made, { 'job.log': 'done\n' });
    const record = await fakeRunRecord(runId, snap.sourceCommit, outputsDir, {
      project: { name: 'runout', id: 'p1' },
      command: ['python', 'train.py'],
      data: { inputs: [], outputs: [{ path: 'output/model.bin', md5, size: 2 * 2 ** 20 }] },
    });
    await recordRun(root, { record, outputsDir, logFile: join(made, 'job.log'), branch: snap.branch });
    expect(await ok(['sync'], root)).toMatch(/pushed/);

    await ok(['clone', remote, 'runout-clone'], work);
    const clone = join(work, 'runout-clone');
    const pulled = JSON.parse(await ok(['data', 'pull', '--run', 'run-dataout', '--json'], clone)) as { transferred: number; restored: string[] };
    expect(pulled).toMatchObject({ transferred: 1, restored: ['output/model.bin'] });
    expect(await sameBytes(join(clone, 'output/model.bin'), join(made, 'model.bin'))).toBe(true);
    expect(existsSync(join(clone, 'input/train.csv'))).toBe(false); // only the run's outputs
    expect(failure(await cli.run(['data', 'pull', '--run', 'nope'], clone)).code).toBe(2);
  });

  describe('refused with one line and a non-zero exit; the workspace untouched, nothing bad used', () => {
    /** A fresh clone of a pushed project (empty cache), and its state before the failing pull. */
    async function freshClone(remote: string, name: string, localConfig?: string) {
      await ok(['clone', remote, name], work);
      const clone = join(work, name);
      if (localConfig !== undefined) await writeFile(join(clone, '.dvc/config.local'), localConfig);
      return { clone, before: repoState(clone) };
    }
    async function refusedPull(clone: string, before: ReturnType<typeof repoState>, env: NodeJS.ProcessEnv = {}): Promise<ReturnType<typeof failure>> {
      const r = await new Cli({ ...cli.env, ...env }).run(['data', 'pull'], clone);
      expect(repoState(clone)).toEqual(before);
      expect(existsSync(join(clone, 'input/train.csv'))).toBe(false);
      expect(existsSync(join(clone, 'input/images'))).toBe(false);
      return failure(r);
    }

    it('an unreachable endpoint, refused credentials, a missing bucket: exit 3', async () => {
      const { remote, root, url } = await pushedProject('badstore');
      const port = await freePort();
      const unreachable = await freshClone(remote, 'badstore-1', `['remote "storage"']\n    endpointurl = http://127.0.0.1:${port}\n`);
      expect(await refusedPull(unreachable.clone, unreachable.before)).toEqual({
        code: 3,
        error: `Error: the data store ${url} is unreachable at http://127.0.0.1:${port} (ECONNREFUSED); check the endpoint (reprise data remote show) and your network`,
      });

      const stranger = await freshClone(remote, 'badstore-2');
      const refused = await refusedPull(stranger.clone, stranger.before, { AWS_PROFILE: 'stranger' });
      expect(refused.code).toBe(3);
      expect(refused.error).toMatch(new RegExp(`^Error: the data store ${url} at ${s3.endpoint} refused your credentials \\(HTTP 403\\)`));

      const noBucket = await freshClone(remote, 'badstore-3', `['remote "storage"']\n    url = s3://reprise-no-such-bucket/x\n`);
      expect(await refusedPull(noBucket.clone, noBucket.before)).toEqual({
        code: 3,
        error: `Error: the bucket of s3://reprise-no-such-bucket/x does not exist at ${s3.endpoint}; create it or fix the URL (reprise data remote set)`,
      });

      // Read-only keys may pull but not push.
      await write(root, { 'input/train.csv': randomBytes(1000) });
      await ok(['data', 'add', 'input/train.csv'], root);
      const head = git(root, 'rev-parse', 'HEAD');
      const push = await new Cli({ ...cli.env, AWS_PROFILE: 'reader' }).run(['data', 'push'], root);
      expect(failure(push).code).toBe(3);
      expect(failure(push).error).toMatch(/refused your credentials \(AccessDenied\)/);
      expect(git(root, 'rev-parse', 'HEAD')).toBe(head);
    });

    it('an object deleted from the store: named with its path, nothing restored', async () => {
      const { remote, url } = await pushedProject('deleted');
      const { clone, before } = await freshClone(remote, 'deleted-clone');
      const dog = (await readFile(join(work, 'deleted/input/images/dogs/1.bin')));
      const md5 = await md5File(join(work, 'deleted/input/images/dogs/1.bin'));
      expect(dog.length).toBe(90_000);
      const location = { bucket: s3.bucket, prefix: url.slice(`s3://${s3.bucket}/`.length) };
      await raw.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: objectKey(location, md5) }));
      expect(await refusedPull(clone, before)).toEqual({
        code: 3,
        error: `Error: object ${objectKey(location, md5)} (input/images/dogs/1.bin) is missing from the data store ${url}; push it from a clone that has it (reprise data push)`,
      });
    });

    it("an object whose bytes do not match its digest: refused, never lands in the cache or the workspace", async () => {
      const { remote, url } = await pushedProject('garbage');
      const { clone, before } = await freshClone(remote, 'garbage-clone');
      const md5 = await md5File(join(work, 'garbage/input/train.csv'));
      const location = { bucket: s3.bucket, prefix: url.slice(`s3://${s3.bucket}/`.length) };
      await raw.send(new PutObjectCommand({ Bucket: s3.bucket, Key: objectKey(location, md5), Body: randomBytes(3 * 2 ** 20) }));
      const r = await refusedPull(clone, before);
      expect(r.code).toBe(3);
      expect(r.error).toMatch(new RegExp(`^Error: object ${objectKey(location, md5)} \\(input/train.csv\\) in the data store ${url} does not match its digest \\(its bytes hash to [0-9a-f]{32}\\); refused`));
      const cached = cacheObjectPath(join(clone, '.dvc/cache'), md5);
      expect(existsSync(cached)).toBe(false);
      expect(existsSync(`${cached}.part`)).toBe(false);
    });
  });

  it('a pull killed mid-object resumes from its .part on the next run: one copy, the rest fetched only', async () => {
    const remote = await bareRemote();
    await ok(['init', 'big', '--name', 'big', '--base', 'local/busybox:latest'], work);
    const root = join(work, 'big');
    const size = 256 * 2 ** 20;
    await write(root, { 'input/big.bin': randomBytes(size) });
    await ok(['data', 'add', 'input/big.bin'], root);
    await ok(['data', 'remote', 'set', `s3://${s3.bucket}/e2e-${run}/big`, '--endpoint', s3.endpoint], root);
    await ok(['remote', 'add', 'origin', remote], root);
    await ok(['sync'], root);
    await ok(['clone', remote, 'big-clone'], work);
    const clone = join(work, 'big-clone');
    const cached = cacheObjectPath(join(clone, '.dvc/cache'), await md5File(join(root, 'input/big.bin')));

    const child = cli.spawn(['data', 'pull'], clone);
    const done = collect(child);
    let partSize = 0;
    for (let i = 0; i < 6000 && partSize < 32 * 2 ** 20; i++) {
      await new Promise((r) => setTimeout(r, 10));
      partSize = await stat(`${cached}.part`).then((st) => st.size, () => 0);
    }
    child.kill('SIGKILL');
    await done;
    const cut = await stat(`${cached}.part`).then((st) => st.size);
    expect(cut).toBeGreaterThan(0);
    expect(cut).toBeLessThan(size);
    expect(existsSync(cached)).toBe(false);
    expect(existsSync(join(clone, 'input/big.bin'))).toBe(false);

    const resumed = JSON.parse(await ok(['data', 'pull', '--json'], clone)) as { bytes: number; transferred: number };
    expect(resumed.transferred).toBe(1);
    expect(resumed.bytes).toBe(size - cut);
    expect(await sameBytes(join(clone, 'input/big.bin'), join(root, 'input/big.bin'))).toBe(true);
    expect((await readdir(join(cached, '..'))).filter((f) => f.endsWith('.part'))).toEqual([]);
  });
});
