/**
 * SLURM data staging with many small files already in the cluster's data cache: a run's whole
 * `stage()` (sources, cached image, the data linked from the cache) next to the same stage with
 * an empty input/, and the data step alone (`stageClusterData`: the list, the missing check, the
 * links). Nothing moves but the list and the links: what is left is the per-file cost of linking.
 * Rounds interleaved.
 *
 *   test/infra/slurm up && node --import tsx bench/slurm-data-links.ts [--files 4000] [--rounds 3] [--json]
 *
 * The objects are put into the cluster cache directly (one tar), not through the store: this
 * measures the second run, not the first. Uses the test cluster's settings
 * (test/infra/.state/slurm.env); everything it made (local and on the cluster) is deleted at the
 * end. Exit 0 when it measured, 1 when it could not.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { stageClusterData } from '../src/backends/slurm/data-cache.js';
import { SlurmBackend } from '../src/backends/slurm/slurm-backend.js';
import type { DataFile, JobHandle, StageData } from '../src/backends/types.js';
import { fmt, log, repoRoot, stats } from './lib.js';

const envOf = (name: string): Record<string, string> =>
  Object.fromEntries(readFileSync(join(repoRoot, `test/infra/.state/${name}.env`), 'utf8').split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

const seconds = async (fn: () => Promise<unknown>) => {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};

async function main(): Promise<number> {
  const o = parseArgs({ options: { files: { type: 'string', default: '4000' }, rounds: { type: 'string', default: '3' }, json: { type: 'boolean', default: false }, 'no-folder': { type: 'boolean', default: false } } }).values;
  const count = Number(o.files);
  const rounds = Number(o.rounds);
  const slurm = envOf('slurm');
  const suite = `bench-links-${randomBytes(3).toString('hex')}`;
  const backend = new SlurmBackend({ kind: 'slurm', host: slurm.SLURM_SSH_HOST!, port: Number(slurm.SLURM_SSH_PORT), user: slurm.SLURM_SSH_USER!, identityFile: slurm.SLURM_SSH_IDENTITY, knownHostsFile: slurm.SLURM_SSH_KNOWN_HOSTS!, partition: slurm.SLURM_PARTITION, runtime: 'charliecloud', workdir: `~/reprise-bench/${suite}` });
  const local = await mkdtemp(join(tmpdir(), 'reprise-bench-links-'));
  const tag = `reprise-bench-links:${suite}`;
  let abs: string | undefined;
  try {
    abs = (await backend.check()).details.workdir!;
    // count files of 64 random bytes, 200 per folder (as data-scale's input/many), as cache objects in DVC's layout.
    log(`putting ${count} small objects into the cluster's data cache`);
    const files: DataFile[] = [];
    for (let i = 0; i < count; i++) {
      const bytes = randomBytes(64);
      const md5 = createHash('md5').update(bytes).digest('hex');
      const object = join(local, 'cache/files/md5', md5.slice(0, 2), md5.slice(2));
      await mkdir(join(object, '..'), { recursive: true });
      await writeFile(object, bytes);
      await chmod(object, 0o444);
      files.push({ path: `input/many/d${String(Math.floor(i / 200)).padStart(3, '0')}/f${String(i).padStart(5, '0')}.bin`, md5, size: 64 });
    }
    execFileSync('tar', ['-c', '-f', join(local, 'cache.tar'), '-C', join(local, 'cache'), 'files']);
    await backend.ssh.run(['mkdir', '-p', `${abs}/data-cache`]);
    await backend.ssh.upload(join(local, 'cache.tar'), `${abs}/cache.tar`);
    await backend.ssh.run(['sh', '-c', 'tar -x -f "$1/cache.tar" -C "$1/data-cache" && rm -f "$1/cache.tar"', 'sh', abs]);
    // The folder's manifest md5 names its tree; any stable one will do here.
    const folders = o['no-folder'] ? [] : [{ path: 'input/many', md5: `${createHash('md5').update(files.map((f) => f.md5).join()).digest('hex')}.dir` }];
    const data: StageData = { files, folders, localObject: (m) => join(local, 'cache/files/md5', m.slice(0, 2), m.slice(2)) };

    execFileSync('docker', ['build', '-q', '-t', tag, '-'], { input: 'FROM local/busybox:latest\n', stdio: ['pipe', 'ignore', 'ignore'] });
    const digest = execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', tag], { encoding: 'utf8' }).trim();
    const sources = join(local, 'sources');
    await mkdir(join(sources, 'input'), { recursive: true });
    await writeFile(join(sources, 'code.sh'), 'true\n');
    const stage = (name: string, withInputs: boolean) =>
      seconds(() => backend.stage({ runId: `${suite}-${name}`, image: { digest, tag }, sourcesDir: sources, ...(withInputs ? { readOnly: ['input/many'], data } : {}) }));
    const until = async (h: JobHandle) => {
      for (;;) {
        const st = await backend.status(h);
        if (st.phase === 'exited' || st.phase === 'lost') return st.exitCode;
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    // A whole run: stage, submit a job that lists the folder, wait for its end (the poller's 1 s interval included).
    const run = (name: string, withInputs: boolean) =>
      seconds(async () => {
        const runId = `${suite}-run-${name}`;
        const staged = await backend.stage({ runId, image: { digest, tag }, sourcesDir: sources, ...(withInputs ? { readOnly: ['input/many'], data } : {}) });
        const h = await backend.submit({ runId, command: ['sh', '-c', 'find input -type f | wc -l > output/count'], env: {}, resources: {}, staged });
        const code = await until(h);
        if (code !== 0) throw new Error(`the job of ${runId} exited ${code}`);
      });
    const dataOnly = async (name: string) => {
      const runDir = `${abs}/links-${name}`;
      await backend.ssh.run(['mkdir', '-p', `${runDir}/project`]);
      return seconds(() => stageClusterData({ ssh: backend.ssh, host: slurm.SLURM_SSH_HOST!, cacheDir: `${abs}/data-cache` }, runDir, `${runDir}/project`, data));
    };
    log('warming: the image into the cluster once, and the folder\'s tree (the first run)');
    await stage('warm', false);
    const first = await stage('warm-data', true);
    log(`the first stage with the data (the tree built): ${fmt(first)}`);
    const withData: number[] = [];
    const empty: number[] = [];
    const linking: number[] = [];
    const runWith: number[] = [];
    const runEmpty: number[] = [];
    for (let r = 0; r < rounds; r++) {
      withData.push(await stage(`data-${r}`, true));
      empty.push(await stage(`empty-${r}`, false));
      linking.push(await dataOnly(String(r)));
      runWith.push(await run(`data-${r}`, true));
      runEmpty.push(await run(`empty-${r}`, false));
      log(`round ${r + 1}: stage with ${count} files cached ${fmt(withData.at(-1)!)}, empty input/ ${fmt(empty.at(-1)!)}, the data step alone ${fmt(linking.at(-1)!)}; whole run ${fmt(runWith.at(-1)!)} vs ${fmt(runEmpty.at(-1)!)}`);
    }
    const counted = await backend.ssh.run(['sh', '-c', 'cat "$1"', 'sh', `${abs}/runs/${suite}-run-data-0/project/output/count`]);
    const c = stats(withData);
    const d = stats(empty);
    const l = stats(linking);
    const rw = stats(runWith);
    const re = stats(runEmpty);
    const result = {
      files: count, rounds, folder: !o['no-folder'], load1: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]), firstStage: first, withDataCached: c, emptyInput: d, ratio: c.median / d.median, dataStepAlone: l,
      runWithData: rw, runEmptyInput: re, runRatio: rw.median / re.median, filesTheJobSaw: Number(counted.trim()),
    };
    if (o.json) console.log(JSON.stringify(result, null, 2));
    else {
      console.log(`| what (${rounds} rounds, median; ${count} files cached) | with data | empty input/ | ratio |`);
      console.log('|---|---|---|---|');
      console.log(`| a run's stage() | ${fmt(c.median)} | ${fmt(d.median)} | ${result.ratio.toFixed(2)}× |`);
      console.log(`| a whole run (stage, submit, the job, its end) | ${fmt(rw.median)} | ${fmt(re.median)} | ${result.runRatio.toFixed(2)}× |`);
      console.log(`| the data step alone (stageClusterData) | ${fmt(l.median)} | | |`);
      console.log(`the first stage (tree built): ${fmt(first)}; files the job saw under input/: ${result.filesTheJobSaw}`);
    }
    return 0;
  } finally {
    try {
      execFileSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' });
    } catch {
      /* not built */
    }
    if (abs) await backend.ssh.exec(['sh', '-c', 'chmod -R u+w "$1" 2>/dev/null; rm -rf "$1"', 'sh', abs]).catch(() => undefined);
    backend.close();
    await rm(local, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`could not measure: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
