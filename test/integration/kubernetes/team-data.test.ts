// Team mode with tracked data on the real Kubernetes test cluster and the real object store
// (SeaweedFS): Alice's run pushes the data before the commits that point at it; a worker of
// another account, with an empty cache, reads the inputs from the store (the pod fetches them by
// presigned URL), the large output goes from the pod to the store, and the record published on
// the remote holds pointers and digests, never the bytes. Bob clones and pulls the output by run.
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectKey } from '../../../src/data/store/location.js';
import { requireDocker } from '../../helpers/docker.js';
import { readInfraEnv } from '../../helpers/infra.js';
import { account, copyOwned, GitServer, personEnv, TeamTemporal, TeamWorker, UserCli, writeOwned, type Account, waitForRecord } from '../../helpers/team.js';
import { s3Env, type S3Env } from '../data/s3-env.js';
import { backendConfig, loadClusterEnv } from './kubernetes-backend-env.js';

const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const clusterEnv = loadClusterEnv();
const prefix = `team-data-${suite}`;

let s3: S3Env;
let temporal: TeamTemporal;
let git: GitServer;
let alice: UserCli;
let bob: UserCli;
let worker: TeamWorker;
let project: string;
const table = randomBytes(2 * 2 ** 20);
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

function workerEnv(a: Account): Record<string, string> {
  const env = personEnv(a, temporal, s3.writerEnv);
  const kubeconfig = copyOwned(a, clusterEnv.KUBECONFIG, '.kube/config');
  const k8s = backendConfig(clusterEnv, { kubeconfig, dataEndpoint: readInfraEnv('s3', ['S3_POD_ENDPOINT']).S3_POD_ENDPOINT });
  writeOwned(a, join(env.REPRISE_HOME!, 'config.yaml'), JSON.stringify({ backends: { k8s }, worker: { allowedRemotes: [git.url('*')] } }));
  return env;
}

beforeAll(async () => {
  requireDocker();
  s3 = s3Env();
  const people = account('reprise-alice', ['docker']);
  const colleague = account('reprise-bob', ['docker']);
  temporal = await TeamTemporal.start();
  git = await GitServer.start(account('reprise-git'));
  await git.create('data');
  alice = new UserCli(people, personEnv(people, temporal, { REPRISE_TEAM: '1', ...s3.writerEnv }));
  bob = new UserCli(colleague, personEnv(colleague, temporal, s3.writerEnv));
  worker = await TeamWorker.start(account('reprise-worker'), workerEnv(account('reprise-worker')), ['k8s'], 'worker-data');

  project = join(people.home, `k8s-team-data-${suite}`);
  expect((await alice.run(['init', project, '--name', 'teamdata', '--base', 'local/busybox:latest'])).code).toBe(0);
  const spec = readFileSync(join(project, '.reprise/project.yaml'), 'utf8');
  writeOwned(people, join(project, '.reprise/project.yaml'), `${spec}data:\n  autoTrack: 1000000\n`, 0o644);
  writeOwned(people, join(project, 'input/table.bin'), table, 0o644);
  for (const args of [
    ['remote', 'add', 'origin', git.url('data')],
    ['registry', 'set', backendConfig(clusterEnv).registry],
    ['data', 'remote', 'set', `s3://${s3.bucket}/${prefix}`, '--endpoint', s3.endpoint],
  ]) {
    const r = await alice.run(args, project);
    expect(r.code, r.stderr).toBe(0);
  }
}, 600_000);

afterAll(async () => {
  await worker?.stop();
  temporal?.stop();
  git?.stop();
});

describe('team mode with tracked data on Kubernetes', () => {
  it('the worker reads the inputs from the store, the large output goes to the store, the record holds pointers; Bob pulls the output by run', async () => {
    const r = await alice.run(['run', '--on', 'k8s', '--json', '--', 'sh', '-c', 'md5sum input/table.bin; head -c 3000000 /dev/urandom > output/big.out; md5sum output/big.out; echo small > output/small.txt'], project);
    expect(r.code, `${r.stderr}${r.stdout}\nworker: ${worker.output.text.slice(-3000)}`).toBe(0);
    const { runId, commit } = JSON.parse(r.stdout) as { runId: string; commit: string };
    const [record] = await waitForRecord(git, 'data', runId, 10_000, () => worker.output.text.slice(-2000));
    expect(record?.state).toBe('succeeded');
    const log = git.git('data', 'show', `${commit}:.reprise/activity/${runId}.log`);
    expect(log).toContain(`${md5(table)}  input/table.bin`);
    const outMd5 = /^([0-9a-f]{32}) {2}output\/big\.out$/m.exec(log)![1]!;
    // The record lists what the run read and wrote by digest; git holds the pointer, never the bytes.
    const shown = JSON.parse(git.git('data', 'show', `${commit}:.reprise/activity/${runId}.json`)) as { data?: { inputs: { path: string; md5: string }[]; outputs: { path: string; md5: string; size: number }[] } };
    expect(shown.data?.inputs).toEqual([expect.objectContaining({ path: 'input/table.bin', md5: md5(table) })]);
    expect(shown.data?.outputs).toEqual([{ path: 'output/big.out', md5: outMd5, size: 3_000_000 }]);
    expect(git.git('data', 'show', `${commit}:output/big.out.dvc`)).toContain(outMd5);
    expect(() => git.git('data', 'show', `${commit}:output/big.out`)).toThrow();
    expect(() => git.git('data', 'show', `${commit}:input/table.bin`)).toThrow();
    expect(git.git('data', 'show', `${commit}:input/table.bin.dvc`)).toContain(md5(table));
    expect(git.git('data', 'show', `${commit}:output/small.txt`)).toBe('small\n');
    // Both objects are in the store, byte for byte.
    const raw = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: s3.region, credentials: { accessKeyId: s3.writerEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.writerEnv.AWS_SECRET_ACCESS_KEY! } });
    try {
      for (const m of [md5(table), outMd5]) {
        const got = await raw.send(new GetObjectCommand({ Bucket: s3.bucket, Key: objectKey({ bucket: s3.bucket, prefix }, m) }));
        expect(md5(Buffer.from(await got.Body!.transformToByteArray()))).toBe(m);
      }
    } finally {
      raw.destroy();
    }
    // The worker's log says the pod fetched the input: it came from the store, not from Alice.
    expect(worker.output.text).toMatch(/data staged: 1 object\(s\) fetched from the store by the cluster/);

    const copy = join(bob.account.home, `k8s-team-data-${suite}`);
    expect((await bob.run(['clone', git.url('data'), copy])).code).toBe(0);
    const pulled = await bob.run(['data', 'pull', '--run', runId], copy);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(md5(readFileSync(join(copy, 'output/big.out')))).toBe(outMd5);
  }, 300_000);
});
