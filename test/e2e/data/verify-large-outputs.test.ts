// `reprise verify --on` another backend for a run whose output is large enough to be data: the
// output is compared by its content digest (the pointer in each record), and the rerun's bytes
// stay in the store where the cluster put them, never downloaded to compare. The original runs on
// the local Docker backend, the rerun on the real SLURM test cluster; the data remote is the real
// object store. Needs `test/infra/slurm up`, `test/infra/s3 up` and `npm run build`.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Cli, cliEnv, requireFreshBuild } from '../../helpers/cli.js';
import { git, tempDir } from '../../helpers/project.js';
import { BUSYBOX } from '../../helpers/docker.js';
import { objectKey } from '../../../src/data/store/location.js';
import { s3Env, type S3Env } from '../../integration/data/s3-env.js';
import { clusterConfig, slurmAddArgs } from '../../integration/slurm/slurm-backend-env.js';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';

const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const prefix = `verify-e2e-${suite}`;
const table = randomBytes(700_000);

interface Record {
  runId: string;
  data?: { outputs: { path: string; md5: string; size: number }[] };
}
interface Verdicts {
  original: string;
  rerun: string;
  identical: boolean;
  files: { path: string; verdict: string }[];
}

let s3: S3Env;
let cli: Cli;
let home: string;
let root: string;
let raw: S3Client;

/** A run on the local Docker backend; its id. */
async function runLocally(script: string): Promise<string> {
  const r = await cli.run(['run', '--', 'sh', '-c', script], root);
  expect(r.code, r.stderr).toBe(0);
  const [entry] = await cli.json<{ runId: string }[]>(['log', '-n', '1'], root);
  return entry!.runId;
}

const cached = (m: string) => existsSync(join(root, '.dvc/cache/files/md5', m.slice(0, 2), m.slice(2)));

beforeAll(async () => {
  requireFreshBuild();
  s3 = s3Env();
  raw = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: s3.region, credentials: { accessKeyId: s3.writerEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.writerEnv.AWS_SECRET_ACCESS_KEY! } });
  home = await tempDir('reprise-e2e-verify-data-home-');
  cli = new Cli({ ...(await cliEnv(home)), AWS_SHARED_CREDENTIALS_FILE: s3.credentialsFile, AWS_PROFILE: 'writer', AWS_REGION: s3.region });
  const add = await cli.run(['backend', 'add', ...slurmAddArgs('hpc', `~/reprise-it/e2e-verify-${suite}`)], '/');
  expect(add.code, add.stderr).toBe(0);
  const work = await tempDir('reprise-e2e-verify-data-');
  expect((await cli.run(['init', 'vd', '--name', 'vd', '--base', BUSYBOX], work)).code).toBe(0);
  root = join(work, 'vd');
  await writeFile(join(root, 'input/table.bin'), table);
  const spec = await readFile(join(root, '.reprise/project.yaml'), 'utf8');
  await writeFile(join(root, '.reprise/project.yaml'), `${spec}data:\n  autoTrack: 100000\n`);
  git(root, 'commit', '-qam', 'outputs above 100 kB are data');
  for (const args of [['data', 'add', 'input/table.bin'], ['data', 'remote', 'set', `s3://${s3.bucket}/${prefix}`, '--endpoint', s3.endpoint], ['data', 'push']]) {
    const r = await cli.run(args, root);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  }
}, 600_000);

afterAll(async () => {
  await cli?.run(['agent', 'stop'], root);
  raw?.destroy();
  const cluster = new SlurmBackend(clusterConfig('~'));
  await cluster.ssh.exec(['sh', '-c', 'chmod -R u+w "$HOME/reprise-it/$1" 2>/dev/null; rm -rf "$HOME/reprise-it/$1"', 'sh', `e2e-verify-${suite}`]).catch(() => undefined);
  cluster.close();
});

describe('verify --on another backend compares large outputs by digest', () => {
  it('a Docker run whose large output is a copy of its input is verified on SLURM: the pointers match, exit 0', async () => {
    const original = await runLocally('head -c 400000 input/table.bin > output/model.bin');
    const recorded = await cli.json<Record>(['show', original], root);
    expect(recorded.data?.outputs).toEqual([{ path: 'output/model.bin', md5: md5(table.subarray(0, 400_000)), size: 400_000 }]);

    const v = await cli.run(['verify', original, '--on', 'hpc', '--json'], root);
    expect(v.code, v.stderr).toBe(0);
    const verdicts = JSON.parse(v.stdout) as Verdicts;
    expect(verdicts.identical).toBe(true);
    expect(verdicts.files.find((f) => f.path.startsWith('output/model.bin'))?.verdict).toBe('same');
    const rerun = await cli.json<Record>(['show', verdicts.rerun], root);
    expect(rerun.data?.outputs).toEqual(recorded.data?.outputs);
  }, 900_000);

  it('a run whose large output differs on the rerun is not verified (exit 1); the rerun\'s bytes are in the store, not downloaded here', async () => {
    const original = await runLocally('head -c 300000 /dev/urandom > output/noise.bin');
    const v = await cli.run(['verify', original, '--on', 'hpc', '--json'], root);
    expect(v.code, v.stderr).toBe(1);
    const verdicts = JSON.parse(v.stdout) as Verdicts;
    expect(verdicts.identical).toBe(false);
    expect(verdicts.files.find((f) => f.path.startsWith('output/noise.bin'))?.verdict).toBe('differs');
    const rerun = await cli.json<Record>(['show', verdicts.rerun], root);
    const noise = rerun.data?.outputs.find((o) => o.path === 'output/noise.bin');
    expect(noise?.size).toBe(300_000);
    const head = await raw.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: objectKey({ bucket: s3.bucket, prefix }, noise!.md5) }));
    expect(head.ContentLength).toBe(300_000);
    // Compared by digest: the rerun's output was never brought to this machine.
    expect(cached(noise!.md5)).toBe(false);
  }, 900_000);
});
