// Tracked folders on the real SLURM test cluster, with each container runtime: a folder is one
// tree of hard links per folder version in the cluster's data cache (`reprise/trees/<manifest md5>`),
// built once and bound read-only at the folder's project path; a single tracked file is linked
// into the project. A job reads every byte; a second run builds nothing, moves nothing and takes
// one round trip; a job (or a job array's element) cannot write into the folder, and the tree is unchanged for the next run;
// two runs staged at once with a new folder version both succeed and leave one tree. A folder
// under a symbolic link is refused, nothing made through it. Needs `test/infra/slurm up` (and
// Apptainer on the cluster: SLURM_APPTAINER=1).
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stageClusterData } from '../../../src/backends/slurm/data-cache.js';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import type { DataFile, DataFolder, DataStaged, JobHandle, StageData } from '../../../src/backends/types.js';
import { RepriseError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/project.js';
import { buildTestImage, clusterConfig, rmi } from './slurm-backend-env.js';

const suite = `trees-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const tag = `reprise-slurm-trees:${suite}`;
let digest: string;
let local: string;

beforeAll(async () => {
  digest = buildTestImage(tag);
  local = await tempDir('reprise-slurm-trees-');
});

afterAll(async () => {
  const b = new SlurmBackend(clusterConfig('~'));
  await b.ssh.exec(['sh', '-c', 'chmod -R u+w "$HOME/reprise-it/$1" 2>/dev/null; rm -rf "$HOME/reprise-it/$1"', 'sh', suite]).catch(() => undefined);
  b.close();
  rmi(tag);
  if (local) await rm(local, { recursive: true, force: true });
});

/** A file of random bytes at `path`, its object in the local cache (shipped from there). */
async function file(path: string, size = 4096): Promise<DataFile> {
  const bytes = randomBytes(size);
  const md5 = createHash('md5').update(bytes).digest('hex');
  const object = join(local, 'cache/files/md5', md5.slice(0, 2), md5.slice(2));
  await mkdir(join(object, '..'), { recursive: true });
  await writeFile(object, bytes);
  await chmod(object, 0o444);
  return { path, md5, size };
}

/** A tracked folder of `count` files (nested, one long name with a space), its manifest md5 made up: the cluster only names trees by it. */
async function folder(path: string, count: number): Promise<{ folder: DataFolder; files: DataFile[] }> {
  const files: DataFile[] = [];
  for (let i = 0; i < count; i++) files.push(await file(`${path}/d${i % 7}/f${i}.bin`));
  files.push(await file(`${path}/a long ${'name '.repeat(25)}.bin`));
  return { folder: { path, md5: `${randomBytes(16).toString('hex')}.dir` }, files };
}

const stageData = (folders: DataFolder[], files: DataFile[], onStaged?: (s: DataStaged) => void): StageData => ({
  files,
  folders,
  localObject: (m) => join(local, 'cache/files/md5', m.slice(0, 2), m.slice(2)),
  ...(onStaged ? { onStaged } : {}),
});

/** `md5  path` of each file, sorted: what md5sum in the job prints for them. */
const sums = (files: DataFile[]) => files.map((f) => `${f.md5}  ${f.path}`).sort();

/** A job that hashes every file under input/ and tries every way to change the folder, each success named in output/writes. */
const READ_AND_WRITE = [
  'find input -type f -exec md5sum {} + > output/sums',
  '{ f=$(find input/data -type f | head -n 1)',
  'echo x >> "$f" && echo appended; chmod u+w "$f" && echo chmodded; rm -f "$f" && echo removed; touch input/data/new && echo created',
  'mkdir input/data/sub && echo mkdir; mv input/data/d0 input/data/moved && echo moved; mount -o remount,rw input/data && echo remounted; } > output/writes 2>/dev/null; true',
].join('; ');

describe.each(['charliecloud', 'apptainer'] as const)('tracked folders on SLURM (%s): one read-only tree per folder version', (runtime) => {
  const backend = new SlurmBackend({ ...clusterConfig(`~/reprise-it/${suite}/${runtime}`), runtime, dataStaging: 'ship' });
  let cacheDir: string;
  let images: { folder: DataFolder; files: DataFile[] };
  let single: DataFile;
  const sh = (script: string, ...args: string[]) => backend.ssh.run(['sh', '-c', script, 'sh', ...args], 10 * 60_000);
  /** Each tree in the cache (`name inode`), and every file under them with its md5. */
  const trees = async () => (await sh('cd "$1/reprise/trees" 2>/dev/null && ls -A -i -1 | LC_ALL=C sort -k 2', cacheDir)).trim();
  const treeSums = async (hex: string) => (await sh('cd "$1/reprise/trees/$2" && find . -type f -exec md5sum {} + | sed "s|  \\./|  |"', cacheDir, hex)).trim().split('\n').sort();

  async function until(handle: JobHandle): Promise<number | undefined> {
    for (let i = 0; i < 1200; i++) {
      const s = await backend.status(handle);
      if (s.phase === 'exited' || s.phase === 'lost') return s.exitCode;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`job ${handle.jobId} did not end`);
  }

  /** Stage and run READ_AND_WRITE; the job's sums and writes, and what staging moved. */
  async function run(name: string, data: StageData & { staged?: DataStaged[] }): Promise<{ sums: string[]; writes: string; staged: DataStaged }> {
    const sourcesDir = await tempDir('reprise-slurm-trees-src-');
    await mkdir(join(sourcesDir, 'output'));
    await mkdir(join(sourcesDir, 'code'));
    let staged: DataStaged | undefined;
    const runId = `${suite}-${runtime}-${name}`;
    const job = await backend.stage({ runId, image: { digest, tag }, sourcesDir, readOnly: [...(data.folders ?? []).map((d) => d.path), single.path], data: { ...data, onStaged: (s) => (staged = s) } });
    const handle = await backend.submit({ runId, command: ['sh', '-c', READ_AND_WRITE], env: {}, resources: {}, staged: job });
    const code = await until(handle);
    const runDir = String(handle.runDir);
    const log = await sh('cat "$1/job.log" 2>/dev/null; true', runDir);
    expect(code, log).toBe(0);
    const out = { sums: (await sh('cat "$1/project/output/sums"', runDir)).trim().split('\n').sort(), writes: await sh('cat "$1/project/output/writes"', runDir), staged: staged! };
    await backend.cleanup(handle);
    return out;
  }

  beforeAll(async () => {
    cacheDir = `${(await backend.check()).details.workdir!}/data-cache`;
    images = await folder('input/data', 300);
    single = await file('input/top level.txt', 1000);
  }, 600_000);

  afterAll(() => backend.close());

  it('a run reads every byte of the folder (from its tree) and of the single file; writes into the folder fail; a second run builds nothing and moves nothing; the tree is unchanged', async () => {
    const all = [...images.files, single];
    const hex = images.folder.md5.slice(0, 32);
    const first = await run('first', stageData([images.folder], all));
    expect(first.sums).toEqual(sums(all));
    expect(first.writes).toBe('');
    expect(first.staged).toEqual({ fetched: 0, fetchedBytes: 0, shipped: all.length, shippedBytes: 300 * 4096 + 4096 + 1000, cached: 0 });
    const built = await trees();
    expect(built).toMatch(new RegExp(`^\\d+ ${hex}$`));
    // The tree is hard links to the cache's objects (same inode), and nothing was linked per file into the job's project.
    expect(await treeSums(hex)).toEqual(images.files.map((f) => `${f.md5}  ${f.path.slice('input/data/'.length)}`).sort());
    const f0 = images.files[0]!;
    const inodes = await sh('stat -c %i "$1/reprise/trees/$2/$3" "$1/files/md5/$4/$5"', cacheDir, hex, f0.path.slice('input/data/'.length), f0.md5.slice(0, 2), f0.md5.slice(2));
    expect(new Set(inodes.trim().split('\n')).size).toBe(1);

    const second = await run('second', stageData([images.folder], all));
    expect(second.sums).toEqual(sums(all));
    expect(second.writes).toBe('');
    expect(second.staged).toEqual({ fetched: 0, fetchedBytes: 0, shipped: 0, shippedBytes: 0, cached: all.length });
    // The same tree (same inode: not built again), with the same bytes after two jobs tried to change it.
    expect(await trees()).toBe(built);
    expect(await treeSums(hex)).toEqual(images.files.map((f) => `${f.md5}  ${f.path.slice('input/data/'.length)}`).sort());
  }, 900_000);

  it('staging a folder whose tree is there is one round trip, nothing written, no file of it touched', async () => {
    const runDir = `${cacheDir}/../runs/${suite}-again`;
    await sh('mkdir -p "$1/project"', runDir);
    let runs = 0;
    let writes = 0;
    const ssh = backend.ssh;
    const counted = Object.assign(Object.create(ssh) as typeof ssh, {
      run: (...a: Parameters<typeof ssh.run>) => (runs++, ssh.run(...a)),
      writeFile: (...a: Parameters<typeof ssh.writeFile>) => (writes++, ssh.writeFile(...a)),
    });
    const staged = await stageClusterData({ ssh: counted, host: 'cluster', cacheDir, staging: 'ship' }, runDir, `${runDir}/project`, stageData([images.folder], images.files));
    expect(staged).toEqual({ fetched: 0, fetchedBytes: 0, shipped: 0, shippedBytes: 0, cached: images.files.length });
    expect({ runs, writes }).toEqual({ runs: 1, writes: 0 });
    // The mount point only: the folder's files are in the tree, not in the project.
    expect((await sh('cd "$1/project" && find . | LC_ALL=C sort', runDir)).trim().split('\n')).toEqual(['.', './input', './input/data']);
  }, 300_000);

  it('two runs staged at once with a new folder version both succeed and leave one tree, nothing half-built', async () => {
    const next = await folder('input/data', 120);
    const all = [...next.files, single];
    const [a, b] = await Promise.all([run('both-a', stageData([next.folder], all)), run('both-b', stageData([next.folder], all))]);
    for (const r of [a, b]) {
      expect(r.sums).toEqual(sums(all));
      expect(r.writes).toBe('');
    }
    const hex = next.folder.md5.slice(0, 32);
    const names = (await trees()).split('\n').map((l) => l.split(' ')[1]);
    expect(names.sort()).toEqual([images.folder.md5.slice(0, 32), hex].sort());
    expect(await treeSums(hex)).toEqual(next.files.map((f) => `${f.md5}  ${f.path.slice('input/data/'.length)}`).sort());
  }, 900_000);

  it('the elements of a job array get the same read-only binds', async () => {
    const all = [...images.files, single];
    const sourcesDir = await tempDir('reprise-slurm-trees-src-');
    await mkdir(join(sourcesDir, 'output'));
    const jobs = await Promise.all(
      ['array-0', 'array-1'].map(async (name) => {
        const runId = `${suite}-${runtime}-${name}`;
        const staged = await backend.stage({ runId, image: { digest, tag }, sourcesDir, readOnly: [images.folder.path, single.path], data: stageData([images.folder], all) });
        return { runId, command: ['sh', '-c', READ_AND_WRITE], env: {}, resources: {}, staged };
      }),
    );
    const handles = await backend.submitArray(`${suite}-${runtime}-array`, jobs);
    for (const h of handles) {
      expect(await until(h), await sh('cat "$1/job.log" 2>/dev/null; true', String(h.runDir))).toBe(0);
      expect((await sh('cat "$1/project/output/sums"', String(h.runDir))).trim().split('\n').sort()).toEqual(sums(all));
      expect(await sh('cat "$1/project/output/writes"', String(h.runDir))).toBe('');
      await backend.cleanup(h);
    }
  }, 900_000);

  it('a staged job (from workflow state) binding anything but a tree of this cache is refused before it is submitted', async () => {
    const sourcesDir = await tempDir('reprise-slurm-trees-src-');
    await mkdir(join(sourcesDir, 'output'));
    const runId = `${suite}-${runtime}-forged`;
    const staged = await backend.stage({ runId, image: { digest, tag }, sourcesDir });
    for (const mounts of [[{ path: 'input/data', source: '/etc' }], [{ path: '../x', source: `${cacheDir}/reprise/trees/${images.folder.md5.slice(0, 32)}` }], [{ path: 'input/a:b', source: `${cacheDir}/reprise/trees/${images.folder.md5.slice(0, 32)}` }]]) {
      const err = await backend.submit({ runId, command: ['true'], env: {}, resources: {}, staged: { ...staged, mounts } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RepriseError);
      expect((err as Error).message).toMatch(/^not a data mount this slurm backend staged: /);
    }
    expect((await sh('ls -A "$1/runs/$2"', `${cacheDir}/..`, runId)).split('\n')).not.toContain('job_id');
  }, 300_000);

  it('a folder under a symbolic link in the project is refused with one line; nothing is made through the link', async () => {
    const runDir = `${cacheDir}/../runs/${suite}-link`;
    await sh('mkdir -p "$1/elsewhere" "$1/project" && ln -s ../elsewhere "$1/project/input"', runDir);
    const err = await stageClusterData({ ssh: backend.ssh, host: 'cluster', cacheDir, staging: 'ship' }, runDir, `${runDir}/project`, stageData([images.folder], [...images.files, single])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepriseError);
    expect((err as Error).message).toMatch(/^the tracked inputs under input cannot be linked into the job's project on cluster: input is a symbolic link there; make it a real folder/);
    expect((await sh('ls -A "$1/elsewhere"', runDir)).trim()).toBe('');
    expect((await sh('ls -A "$1"', runDir)).trim().split('\n').sort()).toEqual(['elsewhere', 'project']);
  }, 300_000);
});
