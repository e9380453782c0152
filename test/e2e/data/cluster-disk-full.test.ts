// Bad input on SLURM: the cluster's data cache on a full disk. The backend's `<workdir>/data-cache`
// is a 1 MiB tmpfs on the test cluster's login node (this machine; mounting needs root, as the
// test cluster's setup does), the run's tracked input 3 MiB: the run fails with one line saying
// the cache is full and where, a non-zero exit, no partial object left in the cache and
// the project untouched. Needs root, `test/infra/slurm up`, `test/infra/s3 up` and
// `npm run build`.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, cliEnv, requireFreshBuild } from '../../helpers/cli.js';
import { BUSYBOX } from '../../helpers/docker.js';
import { git, tempDir } from '../../helpers/project.js';
import { s3Env } from '../../integration/data/s3-env.js';
import { clusterConfig, slurmAddArgs } from '../../integration/slurm/slurm-backend-env.js';

const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const user = clusterConfig('~').user;
const home = execFileSync('getent', ['passwd', user], { encoding: 'utf8' }).split(':')[5]!;
const workdir = join(home, 'reprise-it', `e2e-full-${suite}`);
const cacheDir = join(workdir, 'data-cache');
let cli: Cli;
let root: string;

function walk(dir: string, rel = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name), join(rel, e.name)) : [join(rel, e.name)]));
}

beforeAll(async () => {
  requireFreshBuild();
  if (process.getuid?.() !== 0) throw new Error('this test mounts a small tmpfs as the cluster\'s data cache: it needs root (the test cluster runs on this machine)');
  const uid = execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim();
  const gid = execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim();
  execFileSync('install', ['-d', '-o', user, '-g', user, join(home, 'reprise-it'), workdir, cacheDir]);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=1m,uid=${uid},gid=${gid},mode=0755`, `reprise-full-${suite}`, cacheDir]);
  const s3 = s3Env();
  cli = new Cli({ ...(await cliEnv(await tempDir('reprise-e2e-full-home-'))), AWS_SHARED_CREDENTIALS_FILE: s3.credentialsFile, AWS_PROFILE: 'writer', AWS_REGION: s3.region });
  for (const args of [slurmAddArgs('hpc', workdir), [...slurmAddArgs('hpcship', workdir), '--data-staging', 'ship']]) {
    const add = await cli.run(['backend', 'add', ...args], '/');
    expect(add.code, add.stderr).toBe(0);
  }
  const work = await tempDir('reprise-e2e-full-');
  expect((await cli.run(['init', 'full', '--name', 'full', '--base', BUSYBOX], work)).code).toBe(0);
  root = join(work, 'full');
  await mkdir(join(root, 'input'), { recursive: true });
  await writeFile(join(root, 'input/big.bin'), randomBytes(3 * 2 ** 20));
  for (const args of [['data', 'add', 'input/big.bin'], ['data', 'remote', 'set', `s3://${s3.bucket}/e2e-full-${suite}`, '--endpoint', s3.endpoint], ['data', 'push']]) {
    const r = await cli.run(args, root);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  }
}, 600_000);

afterAll(async () => {
  await cli?.run(['agent', 'stop'], root);
  try {
    execFileSync('umount', [cacheDir]);
  } catch {
    /* not mounted */
  }
  execFileSync('rm', ['-rf', workdir]);
});

describe("the cluster's data cache on a full disk", () => {
  it.each([
    ['fetched by the login node from the store', 'hpc'],
    ['shipped from the worker over SFTP (dataStaging: ship)', 'hpcship'],
  ])('%s: the run fails with one line naming the full cache, a non-zero exit, no partial object in the cache, the project untouched', async (_how, backend) => {
    const before = git(root, 'rev-parse', 'HEAD').trim();
    const r = await cli.run(['run', '--on', backend, '--', 'md5sum', 'input/big.bin'], root);
    expect(r.code).not.toBe(0);
    // One line: where, what (full), and what to do.
    const escaped = cacheDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(r.stderr).toMatch(new RegExp(`^.*data cache ${escaped} on \\S+ is full\\b.*; free space there or set this backend's workdir on a larger filesystem$`, 'm'));
    // Nothing half-written: the full cache holds no partial file (and no object at all: the only one did not fit).
    expect(walk(cacheDir)).toEqual([]);
    // Nothing lost: the input is as it was, the history only grew (the failed run's record).
    expect(git(root, 'status', '--porcelain', 'input')).toBe('');
    expect(git(root, 'merge-base', '--is-ancestor', before, 'HEAD')).toBe('');
  });
});
