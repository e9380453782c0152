/**
 * SLURM data staging: the first staging of ~200 MiB of tracked input from the object store into
 * the cluster's data cache (the login node fetching presigned URLs, md5-verified) next to `curl`
 * of the same presigned URLs by hand on the login node, with and without `md5sum` of each file; then a second run's stage with that data
 * (all cached: links only) next to the same stage with an empty input/. Rounds interleaved.
 *
 *   test/infra/slurm up && test/infra/s3 up && node --import tsx bench/slurm-data-staging.ts [--mib 200] [--rounds 3] [--json]
 *
 * Uses the test cluster's and the store's settings (test/infra/.state/{slurm,s3}.env). Exit 0
 * when it measured, 1 when it could not.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stageDataFor } from '../src/activities/data-staging.js';
import { stageClusterData } from '../src/backends/slurm/data-cache.js';
import { SlurmBackend } from '../src/backends/slurm/slurm-backend.js';
import { addFileToCache, localCacheDir } from '../src/data/cache.js';
import { md5File } from '../src/data/hash.js';
import type { RunInputFile } from '../src/data/run-data.js';
import { openStore, setDataRemote } from '../src/data/store/remote.js';
import { exec, fmt, log, repoRoot, stats } from './lib.js';
import { readFileSync } from 'node:fs';

const envOf = (name: string): Record<string, string> =>
  Object.fromEntries(readFileSync(join(repoRoot, `test/infra/.state/${name}.env`), 'utf8').split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

const quiet = { info: () => undefined, warn: () => undefined };
const seconds = async (fn: () => Promise<unknown>) => {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};

async function main(): Promise<number> {
  const o = parseArgs({ options: { mib: { type: 'string', default: '200' }, rounds: { type: 'string', default: '3' }, json: { type: 'boolean', default: false } } }).values;
  const mib = Number(o.mib);
  const rounds = Number(o.rounds);
  const slurm = envOf('slurm');
  const s3 = envOf('s3');
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: s3.S3_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: s3.S3_SECRET_KEY, AWS_REGION: s3.S3_REGION });
  const suite = `bench-data-${randomBytes(3).toString('hex')}`;
  const workdir = `~/reprise-bench/${suite}`;
  const backend = new SlurmBackend({ kind: 'slurm', host: slurm.SLURM_SSH_HOST!, port: Number(slurm.SLURM_SSH_PORT), user: slurm.SLURM_SSH_USER!, identityFile: slurm.SLURM_SSH_IDENTITY, knownHostsFile: slurm.SLURM_SSH_KNOWN_HOSTS!, partition: slurm.SLURM_PARTITION, runtime: 'charliecloud', workdir });
  const root = await mkdtemp(join(tmpdir(), 'reprise-bench-data-'));
  const tag = `reprise-bench-data:${suite}`;
  try {
    // 8 files of mib/8 MiB each, random (nothing compresses or dedups), in a project's cache and the store.
    log(`making ${mib} MiB of tracked input and pushing it to the store`);
    const cacheDir = await localCacheDir(root);
    const files: RunInputFile[] = [];
    for (let i = 0; i < 8; i++) {
      const path = join(root, `input/part-${i}.bin`);
      await mkdir(join(root, 'input'), { recursive: true });
      await writeFile(path, randomBytes((mib * 2 ** 20) / 8));
      const md5 = await md5File(path);
      await addFileToCache(cacheDir, path, md5, true);
      files.push({ path: `input/part-${i}.bin`, md5, size: (mib * 2 ** 20) / 8 });
    }
    const remote = await setDataRemote(root, `s3://${s3.S3_BUCKET}/${suite}`, s3.S3_ENDPOINT);
    const store = openStore(remote);
    await store.upload(files.map((f) => ({ md5: f.md5, size: f.size, path: join(cacheDir, 'files/md5', f.md5.slice(0, 2), f.md5.slice(2)) })));
    const abs = (await backend.check()).details.workdir!;
    const ssh = (argv: string[]) => backend.ssh.run(argv, 30 * 60_000);

    const reprise: number[] = [];
    const byHand: number[] = [];
    const byHandChecked: number[] = [];
    for (let r = 0; r < rounds; r++) {
      // Reprise: a cold data cache each round.
      const cache = `${abs}/round-${r}/data-cache`;
      const runDir = `${abs}/round-${r}/run`;
      await ssh(['mkdir', '-p', `${runDir}/project`]);
      const { data, close } = await stageDataFor(root, files, quiet);
      reprise.push(await seconds(() => stageClusterData({ ssh: backend.ssh, host: slurm.SLURM_SSH_HOST!, cacheDir: cache }, runDir, `${runDir}/project`, data)));
      close();
      // By hand: the same presigned URLs, one curl each into a fresh directory, as a user would.
      const urls = await Promise.all(files.map((f) => store.presignedGet(f.md5)));
      const dir = `${abs}/round-${r}/by-hand`;
      await ssh(['mkdir', '-p', dir]);
      await backend.ssh.writeFile(`${dir}.urls`, urls.join('\n') + '\n', 0o600);
      byHand.push(await seconds(() => ssh(['sh', '-c', 'cd "$1" && i=0; while IFS= read -r u; do i=$((i+1)); curl -fsS -o "f$i" "$u" || exit 1; done < "$2"', 'sh', dir, `${dir}.urls`])));
      // And checked as Reprise checks: curl, then md5sum of each file.
      await ssh(['sh', '-c', 'rm -f "$1"/f*', 'sh', dir]);
      byHandChecked.push(await seconds(() => ssh(['sh', '-c', 'cd "$1" && i=0; while IFS= read -r u; do i=$((i+1)); curl -fsS -o "f$i" "$u" && md5sum "f$i" >/dev/null || exit 1; done < "$2"', 'sh', dir, `${dir}.urls`])));
      await ssh(['sh', '-c', 'chmod -R u+w "$1"; rm -rf "$1"', 'sh', `${abs}/round-${r}`]);
      log(`round ${r + 1}: reprise ${fmt(reprise.at(-1)!)}, curl by hand ${fmt(byHand.at(-1)!)}, curl + md5sum by hand ${fmt(byHandChecked.at(-1)!)}`);
    }

    // A second run's stage: the data cached (links only) vs an empty input/, the image cached in both.
    log('second-run overhead: full stage with the data cached vs with an empty input/');
    execFileSync('docker', ['build', '-q', '-t', tag, '-'], { input: 'FROM local/busybox:latest\n', stdio: ['pipe', 'ignore', 'ignore'] });
    const digest = execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', tag], { encoding: 'utf8' }).trim();
    const sources = await mkdtemp(join(tmpdir(), 'reprise-bench-data-src-'));
    await mkdir(join(sources, 'input'), { recursive: true });
    await writeFile(join(sources, 'code.sh'), 'true\n');
    const withData: number[] = [];
    const empty: number[] = [];
    const stage = async (name: string, withInputs: boolean) => {
      const { data, close } = await stageDataFor(root, files, quiet);
      try {
        return await seconds(() => backend.stage({ runId: `${suite}-${name}`, image: { digest, tag }, sourcesDir: sources, ...(withInputs ? { readOnly: files.map((f) => f.path), data } : {}) }));
      } finally {
        close();
      }
    };
    await stage('warm', true); // the image and the data into the cluster's caches once
    for (let r = 0; r < rounds; r++) {
      withData.push(await stage(`data-${r}`, true));
      empty.push(await stage(`empty-${r}`, false));
      log(`round ${r + 1}: with ${mib} MiB cached ${fmt(withData.at(-1)!)}, empty input/ ${fmt(empty.at(-1)!)}`);
    }
    store.destroy();

    const a = stats(reprise);
    const b = stats(byHand);
    const bc = stats(byHandChecked);
    const c = stats(withData);
    const d = stats(empty);
    const result = {
      mib,
      rounds,
      firstStaging: { reprise: a, curlByHand: b, ratio: a.median / b.median, curlAndMd5sumByHand: bc, ratioToChecked: a.median / bc.median },
      secondRun: { withDataCached: c, emptyInput: d, ratio: c.median / d.median },
    };
    if (o.json) console.log(JSON.stringify(result, null, 2));
    else {
      console.log(`| what (${rounds} rounds, median) | Reprise | baseline | ratio |`);
      console.log('|---|---|---|---|');
      console.log(`| first staging of ${mib} MiB from the store to SLURM vs curl of the same presigned URLs on the login node | ${fmt(a.median)} | ${fmt(b.median)} | ${result.firstStaging.ratio.toFixed(2)}× |`);
      console.log(`| the same vs curl + md5sum of each file by hand (the check Reprise makes) | ${fmt(a.median)} | ${fmt(bc.median)} | ${result.firstStaging.ratioToChecked.toFixed(2)}× |`);
      console.log(`| second run's stage with the ${mib} MiB cached vs an empty input/ | ${fmt(c.median)} | ${fmt(d.median)} | ${result.secondRun.ratio.toFixed(2)}× |`);
    }
    return 0;
  } finally {
    await exec('docker', ['rmi', '-f', tag], { env: process.env }).catch(() => undefined);
    await backend.ssh.exec(['sh', '-c', 'chmod -R u+w "$1" 2>/dev/null; rm -rf "$1"', 'sh', `${(await backend.check().catch(() => undefined))?.details.workdir ?? '/nonexistent'}`]).catch(() => undefined);
    backend.close();
    await rm(root, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`could not measure: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
