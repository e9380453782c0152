// The built CLI running a project with tracked data on the real SLURM test cluster, the data
// remote on the real object store: the inputs reach the job by digest (the login node fetches
// them; a second run moves no data bytes, as the worker's log line says), and a large output goes
// from the login node to the store, its pointer in the record, `data pull --run` restoring it.
// Needs `test/infra/slurm up`, `test/infra/s3 up` and `npm run build`.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
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
const prefix = `cluster-e2e-${suite}`;

interface RunRecord {
  runId: string;
  state: string;
  data?: { inputs: { path: string; md5: string; size: number }[]; outputs: { path: string; md5: string; size: number }[] };
}

let s3: S3Env;
let cli: Cli;
let home: string;
let root: string;
let raw: S3Client;
const inputs: { [path: string]: Buffer } = {
  'input/table.bin': randomBytes(2_500_000),
  'input/set/a.bin': randomBytes(300_000),
  'input/set/b.txt': Buffer.from(`b ${suite}\n`),
  'input/set/sub/c.bin': randomBytes(600_000),
};
const script = 'find input -type f ! -name "*.dvc" ! -name .gitignore -exec md5sum {} + | LC_ALL=C sort -k 2; head -c 400000 /dev/urandom > output/model.bin; echo small > output/small.txt';

/** What staging moved for a run, as the worker wrote it in the run's directory. */
async function staged(runId: string): Promise<unknown> {
  return JSON.parse(await readFile(join(home, 'runs', runId, 'data-staged.json'), 'utf8'));
}

async function runOnCluster(): Promise<{ record: RunRecord; stdout: string; commit: string }> {
  const r = await cli.run(['run', '--on', 'hpc', '--', 'sh', '-c', script], root);
  expect(r.code, r.stderr).toBe(0);
  const [entry] = await cli.json<{ runId: string; commit: string }[]>(['log', '-n', '1'], root);
  return { record: await cli.json<RunRecord>(['show', entry!.runId], root), stdout: r.stdout, commit: entry!.commit };
}

beforeAll(async () => {
  requireFreshBuild();
  s3 = s3Env();
  raw = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: s3.region, credentials: { accessKeyId: s3.writerEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.writerEnv.AWS_SECRET_ACCESS_KEY! } });
  home = await tempDir('reprise-e2e-cluster-data-home-');
  cli = new Cli({ ...(await cliEnv(home)), AWS_SHARED_CREDENTIALS_FILE: s3.credentialsFile, AWS_PROFILE: 'writer', AWS_REGION: s3.region });
  const add = await cli.run(['backend', 'add', ...slurmAddArgs('hpc', `~/reprise-it/e2e-data-${suite}`)], '/');
  expect(add.code, add.stderr).toBe(0);
  const work = await tempDir('reprise-e2e-cluster-data-');
  expect((await cli.run(['init', 'cd', '--name', 'cd', '--base', BUSYBOX], work)).code).toBe(0);
  root = join(work, 'cd');
  for (const [path, bytes] of Object.entries(inputs)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), bytes);
  }
  const spec = await readFile(join(root, '.reprise/project.yaml'), 'utf8');
  await writeFile(join(root, '.reprise/project.yaml'), `${spec}data:\n  autoTrack: 100000\n`);
  git(root, 'commit', '-qam', 'outputs above 100 kB are data');
  for (const args of [['data', 'add', 'input/table.bin', 'input/set'], ['data', 'remote', 'set', `s3://${s3.bucket}/${prefix}`, '--endpoint', s3.endpoint], ['data', 'push']]) {
    const r = await cli.run(args, root);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  }
}, 600_000);

afterAll(async () => {
  await cli?.run(['agent', 'stop'], root);
  raw?.destroy();
  // The cluster's data cache of this test (its objects are read-only: made writable to go).
  const cluster = new SlurmBackend(clusterConfig('~'));
  await cluster.ssh.exec(['sh', '-c', 'chmod -R u+w "$HOME/reprise-it/$1" 2>/dev/null; rm -rf "$HOME/reprise-it/$1"', 'sh', `e2e-data-${suite}`]).catch(() => undefined);
  cluster.close();
});

describe('tracked data on SLURM through the built CLI', () => {
  it('a run reads the inputs by digest (fetched by the login node), a second run moves 0 data bytes; a large output goes to the store from the cluster and data pull --run restores it', async () => {
    const expected = Object.entries(inputs).map(([p, b]) => `${md5(b)}  ${p}`).sort((a, b) => (a.split('  ')[1]! < b.split('  ')[1]! ? -1 : 1)).join('\n');
    const total = Object.values(inputs).reduce((n, b) => n + b.length, 0);
    const first = await runOnCluster();
    expect(first.stdout).toContain(expected);
    expect(await staged(first.record.runId)).toEqual({ fetched: 4, fetchedBytes: total, shipped: 0, shippedBytes: 0, cached: 0 });

    // The large output: its pointer in the record commit, its bytes in the store, not in git nor on this machine.
    const [model] = first.record.data!.outputs;
    expect(model).toMatchObject({ path: 'output/model.bin', size: 400_000 });
    const tree = git(root, 'ls-tree', '-r', '--name-only', first.commit).split('\n');
    expect(tree).toEqual(expect.arrayContaining(['output/model.bin.dvc', 'output/small.txt', 'output/.gitignore']));
    expect(tree).not.toContain('output/model.bin');
    expect(git(root, 'show', `${first.commit}:output/model.bin.dvc`)).toContain(`md5: ${model!.md5}`);
    const head = await raw.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: objectKey({ bucket: s3.bucket, prefix }, model!.md5) }));
    expect(head.ContentLength).toBe(400_000);
    expect(existsSync(join(root, 'output/model.bin'))).toBe(false);

    const pulled = await cli.run(['data', 'pull', '--run', first.record.runId], root);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(md5(await readFile(join(root, 'output/model.bin')))).toBe(model!.md5);

    const second = await runOnCluster();
    expect(second.stdout).toContain(expected);
    expect(await staged(second.record.runId)).toEqual({ fetched: 0, fetchedBytes: 0, shipped: 0, shippedBytes: 0, cached: 4 });
    expect(second.record.data!.inputs).toEqual(first.record.data!.inputs);
  });
});
