// Tracked inputs linked from the real SLURM test cluster's data cache into a job's project: a
// folder of thousands of files becomes hard links to the cache objects (same inode, read-only)
// made by a bounded number of processes on the login node, not one per file; objects shipped
// first are linked the same way; a cache on another filesystem (tmpfs) falls back to copies, once,
// and says so; a folder of the project that is a symbolic link is refused, nothing written
// through it. Needs `test/infra/slurm up`.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stageClusterData, type ClusterDataOptions } from '../../../src/backends/slurm/data-cache.js';
import { SlurmBackend } from '../../../src/backends/slurm/slurm-backend.js';
import type { DataFile, StageData } from '../../../src/backends/types.js';
import { RepriseError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/project.js';
import { clusterConfig } from '../slurm/slurm-backend-env.js';

const COUNT = 4000;
const suite = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const slurm = new SlurmBackend(clusterConfig(`~/reprise-it/links-${suite}`), { logPollMs: 300 });
/** A cache on tmpfs, another filesystem than the runs under the home directory: no hard link possible. */
const otherFs = `/dev/shm/reprise-it-links-${suite}`;
let local: string;
let abs: string;
let options: ClusterDataOptions;
let files: DataFile[];
const bytesOf = new Map<string, Buffer>();

const sh = (script: string, ...args: string[]) => slurm.ssh.run(['sh', '-c', script, 'sh', ...args], 10 * 60_000);
const objectOf = (cacheDir: string, md5: string) => `${cacheDir}/files/md5/${md5.slice(0, 2)}/${md5.slice(2)}`;

/** A small file of random bytes at `path`, kept in the local cache layout under `local` (shipped from there when the cluster lacks it). */
async function file(path: string): Promise<DataFile> {
  const bytes = randomBytes(64);
  const md5 = createHash('md5').update(bytes).digest('hex');
  bytesOf.set(md5, bytes);
  const object = join(local, 'cache/files/md5', md5.slice(0, 2), md5.slice(2));
  await mkdir(join(object, '..'), { recursive: true });
  await writeFile(object, bytes);
  await chmod(object, 0o444);
  return { path, md5, size: bytes.length };
}

const stageData = (list: DataFile[], notes: string[] = []): StageData => ({
  files: list,
  localObject: (m) => join(local, 'cache/files/md5', m.slice(0, 2), m.slice(2)),
  note: (line) => notes.push(line),
});

/** A fresh run directory with an empty project, as stage() makes it. */
async function runDir(name: string): Promise<string> {
  const dir = `${abs}/runs/${name}`;
  await sh('mkdir -p "$1/project/output"', dir);
  return dir;
}

/** Every regular file under `dir`: relative path → inode, mode, link count. */
async function filesUnder(dir: string): Promise<Map<string, { inode: string; mode: string; links: number }>> {
  const out = await sh('find "$1" -type f -printf "%P\\t%i\\t%m\\t%n\\n"', dir);
  return new Map(
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [p, inode, mode, links] = l.split('\t');
        return [p!, { inode: inode!, mode: mode!, links: Number(links) }];
      }),
  );
}

/** Processes started on the login node's machine so far (/proc/stat; machine-wide: other users count too). */
const forks = async () => Number(/^processes (\d+)$/m.exec(await sh('cat /proc/stat'))![1]);

beforeAll(async () => {
  local = await tempDir('reprise-links-');
  abs = (await slurm.check()).details.workdir!;
  options = { ssh: slurm.ssh, host: clusterConfig('~').host, cacheDir: `${abs}/data-cache`, staging: 'ship' };
  files = [];
  for (let i = 0; i < COUNT; i++) files.push(await file(`input/many/d${String(Math.floor(i / 200)).padStart(3, '0')}/f${String(i).padStart(5, '0')}.bin`));
  // Names a tar header cannot hold (over 100 bytes, so GNU long-name entries), with a space and non-ASCII.
  files.push(await file(`input/many/${'long folder é '.repeat(7)}/${'long name ü '.repeat(8)}.bin`));
  files.push(await file('input/top level.txt'));
  // The objects go into the cluster's cache directly (one tar): this file is about linking them.
  execFileSync('tar', ['-c', '-f', join(local, 'cache.tar'), '-C', join(local, 'cache'), 'files']);
  await sh('mkdir -p "$1"', options.cacheDir);
  await slurm.ssh.upload(join(local, 'cache.tar'), `${abs}/cache.tar`);
  await sh('tar -x -f "$1/cache.tar" -C "$1/data-cache" && rm -f "$1/cache.tar"', abs);
}, 600_000);

afterAll(async () => {
  await sh('chmod -R u+w "$1" "$2" 2>/dev/null; rm -rf "$1" "$2"', abs, otherFs).catch(() => undefined);
  slurm.close();
  if (local) await rm(local, { recursive: true, force: true });
});

describe('tracked inputs linked from the SLURM data cache', () => {
  it(`${COUNT} cached files become hard links to the cache objects (same inode, 0444) in one round trip, by a bounded number of processes`, async () => {
    const dirs: string[] = [];
    let started = Infinity;
    // The counter is machine-wide: the fewer of two runs, so another user's burst cannot fail it.
    for (const name of ['many', 'many-again']) {
      const dir = await runDir(name);
      dirs.push(dir);
      const notes: string[] = [];
      const before = await forks();
      const staged = await stageClusterData(options, dir, `${dir}/project`, stageData(files, notes));
      started = Math.min(started, (await forks()) - before);
      expect(staged).toEqual({ fetched: 0, fetchedBytes: 0, shipped: 0, shippedBytes: 0, cached: files.length });
      expect(notes).toEqual([]);
    }
    const dir = dirs[0]!;
    // One `ln` per file made at least COUNT processes; tar and the checks around it make a few dozen
    // (the margin is for other suites sharing the machine in npm test).
    expect(started).toBeLessThan(COUNT / 2);

    const cache = await filesUnder(`${options.cacheDir}/files/md5`);
    const linked = await filesUnder(`${dir}/project`);
    expect(linked.size).toBe(files.length);
    for (const f of files) {
      const object = cache.get(`${f.md5.slice(0, 2)}/${f.md5.slice(2)}`)!;
      const got = linked.get(f.path);
      expect(got, f.path).toBeDefined();
      expect(got!.inode, f.path).toBe(object.inode);
      expect(got!.mode, f.path).toBe('444');
    }
    // The list, the archive and the rest of what staging wrote next to the project are gone.
    expect((await sh('ls -A "$1"', dir)).trim()).toBe('project');
    // The bytes are the object's: md5sum on the login node of the long-named file.
    const long = files.at(-2)!;
    expect((await sh('md5sum < "$1/$2"', `${dir}/project`, long.path)).split(' ')[0]).toBe(long.md5);
  });

  it('objects the cache lacks are shipped first, then linked the same way; a job-modified object is replaced first', async () => {
    const fresh = [await file('input/fresh/a.bin'), await file('input/fresh/sub/b.bin')];
    const some = [...files.slice(0, 20), ...fresh];
    // A job that made its linked object writable and changed it: the cache must not serve it again.
    const tampered = files[5]!;
    await sh('chmod u+w "$1" && printf x >> "$1"', objectOf(options.cacheDir, tampered.md5));
    const dir = await runDir('fresh');
    const notes: string[] = [];
    const staged = await stageClusterData(options, dir, `${dir}/project`, stageData(some, notes));
    expect(staged).toEqual({ fetched: 0, fetchedBytes: 0, shipped: 3, shippedBytes: 3 * 64, cached: some.length - 3 });
    expect(notes).toEqual([]);
    const cache = await filesUnder(`${options.cacheDir}/files/md5`);
    const linked = await filesUnder(`${dir}/project`);
    expect(linked.size).toBe(some.length);
    for (const f of some) {
      expect(linked.get(f.path)?.inode, f.path).toBe(cache.get(`${f.md5.slice(0, 2)}/${f.md5.slice(2)}`)!.inode);
      expect(linked.get(f.path)?.mode, f.path).toBe('444');
    }
    expect((await sh('md5sum < "$1/$2"', `${dir}/project`, tampered.path)).split(' ')[0]).toBe(tampered.md5);
    expect((await sh('ls -A "$1"', dir)).trim()).toBe('project');
  });

  it('a cache on another filesystem than the runs: the files are copied one by one instead, read-only, and the log says so once', async () => {
    const some = files.slice(0, 30);
    const cut: ClusterDataOptions = { ...options, cacheDir: `${otherFs}/data-cache` };
    // First run: shipped into the tmpfs cache, then linked (the second call); then a second run, all cached (one call).
    for (const [name, shipped] of [['tmpfs-1', some.length], ['tmpfs-2', 0]] as const) {
      const dir = await runDir(name);
      const notes: string[] = [];
      const staged = await stageClusterData(cut, dir, `${dir}/project`, stageData(some, notes));
      expect(staged.shipped).toBe(shipped);
      expect(notes).toHaveLength(1);
      expect(notes[0]).toMatch(/^the data could not be hard-linked at once into \S+ on \S+ \(.*[Ii]nvalid cross-device link.*\); linked or copied file by file instead/);
      expect(notes[0]).not.toContain('\n');
      const cache = await filesUnder(`${cut.cacheDir}/files/md5`);
      const copied = await filesUnder(`${dir}/project`);
      expect(copied.size).toBe(some.length);
      for (const f of some) {
        expect(copied.get(f.path)!.inode, f.path).not.toBe(cache.get(`${f.md5.slice(0, 2)}/${f.md5.slice(2)}`)!.inode);
        expect(copied.get(f.path)!.mode, f.path).toBe('444');
      }
      const sums = await sh('cd "$1" && find input -type f -exec md5sum {} + | LC_ALL=C sort -k 2', `${dir}/project`);
      expect(sums).toBe([...some].sort((a, b) => (a.path < b.path ? -1 : 1)).map((f) => `${f.md5}  ${f.path}\n`).join(''));
      expect((await sh('ls -A "$1"', dir)).trim()).toBe('project');
    }
  });

  it('a folder of the project that is a symbolic link is refused with one line; nothing is written through it', async () => {
    const dir = await runDir('through-link');
    // In-project links, each harmless alone: input/up points at the project, input/many at input/up/.. (outside it).
    await sh('mkdir -p "$1/elsewhere" "$1/project/input" && ln -s .. "$1/project/input/up" && ln -s up/../elsewhere "$1/project/input/many"', dir);
    const err = await stageClusterData(options, dir, `${dir}/project`, stageData(files.slice(0, 10))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepriseError);
    expect((err as RepriseError).message).toMatch(/^the tracked inputs under input\/many cannot be linked into the job's project on \S+: input\/many is a symbolic link there; make it a real folder/);
    expect((err as RepriseError).message).not.toContain('\n');
    expect((await sh('ls -A "$1/elsewhere"', dir)).trim()).toBe('');
    expect((await sh('ls -A "$1"', dir)).trim().split('\n').sort()).toEqual(['elsewhere', 'project']);
  });
});
