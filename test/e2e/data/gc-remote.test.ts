// `reprise data gc --remote` against the real object store (SeaweedFS from test/infra/s3): it
// removes only what no commit on any branch (a teammate's branch the user has not fetched yet
// included) points to, keeps what is younger than the grace period, drops stale unfinished
// multipart uploads, and refuses before deleting anything when it cannot tell what is referenced.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateMultipartUploadCommand, HeadObjectCommand, PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { Cli, cliEnv, type CliResult } from '../../helpers/cli.js';
import { git, repoState, tempDir } from '../../helpers/project.js';
import { bareRemote } from '../../helpers/sync.js';
import { serializePointer } from '../../../src/data/format.js';
import { objectKey, parseStoreUrl } from '../../../src/data/store/location.js';
import { s3Env, type S3Env } from '../../integration/data/s3-env.js';

let s3: S3Env;
let cli: Cli;
let work: string;
let raw: S3Client;
const run = `${process.pid}-${Date.now()}`;
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

async function ok(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const r = await new Cli({ ...cli.env, ...env }).run(args, cwd);
  expect(r.code, `reprise ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}
/** The user's own state: working tree, index, HEAD and branches (a fetch adds only remote-tracking refs). */
const local = (root: string) => ({ ...repoState(root), refs: git(root, 'for-each-ref', 'refs/heads') });
const failure = (r: CliResult) => ({ code: r.code, lines: r.stderr.trim().split('\n').length, error: r.stderr.trim().split('\n').at(-1) });

/** Whether the store holds object `m` under `url`. */
async function stored(url: string, m: string): Promise<boolean> {
  try {
    await raw.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: objectKey(parseStoreUrl(url), m) }));
    return true;
  } catch {
    return false;
  }
}
const put = (url: string, bytes: Buffer) => raw.send(new PutObjectCommand({ Bucket: s3.bucket, Key: objectKey(parseStoreUrl(url), md5(bytes)), Body: bytes }));

beforeAll(async () => {
  s3 = s3Env();
  work = await tempDir('reprise-e2e-gc-remote-');
  cli = new Cli({ ...(await cliEnv(await tempDir('reprise-e2e-gc-remote-home-'))), AWS_SHARED_CREDENTIALS_FILE: s3.credentialsFile, AWS_PROFILE: 'writer', AWS_REGION: s3.region });
  raw = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: s3.region, credentials: { accessKeyId: s3.writerEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.writerEnv.AWS_SECRET_ACCESS_KEY! } });
});

afterAll(() => raw?.destroy());

/**
 * Alice's project: a tracked file in two versions and a tracked folder, synced; Bob's branch
 * `exp` on the shared remote (never fetched by Alice) points to an object of its own; and an
 * object nothing points to (a deleted branch's).
 */
async function project(name: string) {
  const remote = await bareRemote();
  const url = `s3://${s3.bucket}/e2e-gc-${run}/${name}`;
  await ok(['init', name, '--name', name, '--base', 'local/busybox:latest'], work);
  const root = join(work, name);
  await mkdir(join(root, 'input/set'), { recursive: true });
  const v1 = randomBytes(200_000);
  await writeFile(join(root, 'input/a.bin'), v1);
  await writeFile(join(root, 'input/set/x.bin'), randomBytes(10_000));
  await writeFile(join(root, 'input/set/y.txt'), 'y\n');
  await ok(['data', 'add', 'input/a.bin', 'input/set'], root);
  await ok(['data', 'remote', 'set', url, '--endpoint', s3.endpoint], root);
  await ok(['remote', 'add', 'origin', remote], root);
  await ok(['sync'], root);
  const v2 = randomBytes(200_000);
  await writeFile(join(root, 'input/a.bin'), v2);
  await ok(['data', 'add', 'input/a.bin'], root);
  await ok(['sync'], root);

  const bob = join(await tempDir(), 'bob');
  git(work, 'clone', '-q', remote, bob);
  const theirs = randomBytes(50_000);
  await put(url, theirs);
  await writeFile(join(bob, 'input/b.bin.dvc'), serializePointer({ md5: md5(theirs), size: theirs.length, path: 'b.bin' }));
  git(bob, 'checkout', '-qb', 'exp');
  git(bob, 'add', 'input/b.bin.dvc');
  git(bob, '-c', 'user.name=Bob', '-c', 'user.email=bob@example.com', 'commit', '-qm', 'b.bin');
  git(bob, 'push', '-q', 'origin', 'exp');

  const orphan = randomBytes(30_000);
  await put(url, orphan);
  return { root, url, referenced: [md5(v1), md5(v2), md5(theirs)], orphan: md5(orphan) };
}

describe('data gc --remote', () => {
  it('removes only unreferenced objects older than the grace period, keeping a teammate’s unfetched branch; dry run first', async () => {
    const { root, url, referenced, orphan } = await project('gc');
    const before = local(root);

    // Everything is minutes old: the default grace period (24h) keeps the orphan.
    const young = JSON.parse(await ok(['data', 'gc', '--remote', '--json'], root)) as { remote: { removed: unknown[]; recent: number; kept: number } };
    expect(young.remote).toMatchObject({ removed: [], recent: 1 });
    expect(await stored(url, orphan)).toBe(true);

    const dry = JSON.parse(await ok(['data', 'gc', '--remote', '--older-than', '0', '--dry-run', '--json'], root)) as { remote: { removed: { md5: string }[]; kept: number; dryRun: boolean } };
    expect(dry.remote.removed.map((r) => r.md5)).toEqual([orphan]);
    expect(await stored(url, orphan)).toBe(true);

    const out = await ok(['data', 'gc', '--remote', '--older-than', '0'], root);
    expect(out).toContain(`removed ${orphan}`);
    expect(out).toMatch(/removed 1 object\(s\), .* from s3:\/\/.*; kept \d+ referenced and 0 newer than 0/);
    expect(await stored(url, orphan)).toBe(false);
    // Both versions of a.bin, the folder's manifest and files, and Bob's object on a branch Alice never fetched.
    for (const m of referenced) expect(await stored(url, m), m).toBe(true);
    expect(dry.remote.kept).toBe(6); // a.bin ×2, the manifest, its 2 files, Bob's
    // The working tree and the branches are as they were (the fetch only adds remote-tracking refs).
    expect(local(root)).toEqual(before);
  });

  it('drops an unfinished multipart upload older than the grace period, not a young one', async () => {
    const { root, url } = await project('gcmp');
    const key = objectKey(parseStoreUrl(url), md5(randomBytes(8)));
    const { UploadId } = await raw.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: key }));
    await raw.send(new UploadPartCommand({ Bucket: s3.bucket, Key: key, UploadId, PartNumber: 1, Body: randomBytes(5 * 2 ** 20) }));
    const kept = JSON.parse(await ok(['data', 'gc', '--remote', '--json'], root)) as { remote: { aborted: number } };
    expect(kept.remote.aborted).toBe(0);
    const dropped = JSON.parse(await ok(['data', 'gc', '--remote', '--older-than', '0', '--json'], root)) as { remote: { aborted: number } };
    expect(dropped.remote.aborted).toBe(1);
    const again = JSON.parse(await ok(['data', 'gc', '--remote', '--older-than', '0', '--dry-run', '--json'], root)) as { remote: { aborted: number } };
    expect(again.remote.aborted).toBe(0);
  });

  it('refuses, deleting nothing, when a referenced folder manifest is nowhere, when the credentials may not delete, and on a bad --older-than', async () => {
    const { root, url, orphan } = await project('gcbad');
    const before = local(root);

    const reader = await new Cli({ ...cli.env, AWS_PROFILE: 'reader' }).run(['data', 'gc', '--remote', '--older-than', '0'], root);
    expect(failure(reader).code).not.toBe(0);
    expect(failure(reader).lines).toBe(1);
    expect(failure(reader).error).toMatch(/refused|denied|permission/i);
    expect(await stored(url, orphan)).toBe(true);

    const bad = await cli.run(['data', 'gc', '--remote', '--older-than', 'soon'], root);
    expect(failure(bad)).toEqual({ code: 2, lines: 1, error: 'Error: invalid --older-than "soon": give an age such as 24h, 7d or 90m, or 0 for any age' });

    // A commit on a side branch points to a folder whose manifest neither the cache nor the store has.
    git(root, 'checkout', '-qb', 'lost');
    await writeFile(join(root, 'input/gone.dvc'), serializePointer({ md5: `${'0'.repeat(32)}.dir`, size: 1, nfiles: 1, path: 'gone' }));
    git(root, 'add', 'input/gone.dvc');
    git(root, 'commit', '-qm', 'a folder nobody pushed');
    git(root, 'checkout', '-q', 'main');
    const lost = await cli.run(['data', 'gc', '--remote', '--older-than', '0'], root);
    expect(failure(lost).code).not.toBe(0);
    expect(failure(lost).lines).toBe(1);
    expect(failure(lost).error).toContain(`the folder manifest ${'0'.repeat(32)}.dir is in neither the local cache nor ${url}`);
    expect(await stored(url, orphan)).toBe(true);
    expect(local(root).head).toEqual(before.head);
  });
});
