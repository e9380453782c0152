// Datasets end to end (src/data): the built CLI on the real Docker engine. Tracked inputs are read
// by digest from the project's cache, large outputs become pointers, and the record says which.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCliProject } from '../helpers/cli-project.js';
import { git, repoState } from '../helpers/project.js';

const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

interface Tracked {
  path: string;
  md5: string;
  state: string;
}
interface Feed {
  runId: string;
  commit: string;
}
interface Record {
  runId: string;
  state: string;
  data?: { inputs: { path: string; md5: string; size: number }[]; outputs: { path: string; md5: string; size: number }[] };
}

describe('reprise data on Docker', () => {
  const ctx = useCliProject('datacore');
  const big = randomBytes(2_000_000);
  const runs: string[] = [];

  async function run(script: string): Promise<{ record: Record; stdout: string; commit: string }> {
    const r = await ctx.cli.run(['run', '--', 'sh', '-c', script], ctx.root);
    expect(r.code, r.stderr).toBe(0);
    const [entry] = await ctx.cli.json<Feed[]>(['log', '-n', '1'], ctx.root);
    runs.push(entry!.runId);
    return { record: await ctx.cli.json<Record>(['show', entry!.runId], ctx.root), stdout: r.stdout, commit: entry!.commit };
  }

  it('data add tracks a file and a folder: pointers and .gitignore committed, bytes in the cache only', async () => {
    const { root, cli } = ctx;
    await writeFile(join(root, 'input/big.bin'), big);
    await mkdir(join(root, 'input/imgs/sub'), { recursive: true });
    await writeFile(join(root, 'input/imgs/a.txt'), 'alpha\n');
    await writeFile(join(root, 'input/imgs/sub/c.txt'), 'gamma\n');
    const added = await cli.json<{ tracked: { path: string; md5: string; nfiles?: number }[]; commit: string }>(['data', 'add', 'input/big.bin', 'input/imgs'], root);
    expect(added.tracked.map((t) => [t.path, t.md5])).toEqual([
      ['input/big.bin', md5(big)],
      ['input/imgs', expect.stringMatching(/^[0-9a-f]{32}\.dir$/)],
    ]);
    expect(await readFile(join(root, 'input/big.bin.dvc'), 'utf8')).toBe(`outs:\n- md5: ${md5(big)}\n  size: 2000000\n  hash: md5\n  path: big.bin\n`);
    expect(git(root, 'log', '-1', '--format=%H').trim()).toBe(added.commit);
    const tree = git(root, 'ls-tree', '-r', '--name-only', 'HEAD').split('\n');
    expect(tree).toEqual(expect.arrayContaining(['input/big.bin.dvc', 'input/imgs.dvc', 'input/.gitignore', '.dvc/config', '.dvc/.gitignore']));
    expect(tree).not.toContain('input/big.bin');
    expect(tree.some((f) => f.startsWith('input/imgs/'))).toBe(false);
    expect(git(root, 'show', 'HEAD:input/.gitignore')).toBe('/big.bin\n/imgs\n');
    expect(existsSync(join(root, `.dvc/cache/files/md5/${md5(big).slice(0, 2)}/${md5(big).slice(2)}`))).toBe(true);
    expect(git(root, 'status', '--porcelain')).toBe('');
    const status = await cli.json<{ tracked: Tracked[] }>(['data', 'status'], root);
    expect(status.tracked.map((t) => [t.path, t.state])).toEqual([
      ['input/big.bin', 'ok'],
      ['input/imgs', 'ok'],
    ]);
  });

  it('refuses bad input in one line, exit 2, changing nothing: outside the project, a symlink, a missing path', async () => {
    const { root, cli } = ctx;
    await symlink('/etc/hostname', join(root, 'input/link'));
    const before = repoState(root);
    for (const [path, words] of [
      ['/etc/hostname', 'is outside the project'],
      ['../', 'is outside the project'],
      ['input/link', 'input/link is a symlink'],
      ['input/nope.bin', 'does not exist'],
      ['.git/config', 'holds no data'],
    ] as const) {
      const r = await cli.run(['data', 'add', path], root);
      expect(r.code, path).toBe(2);
      expect(r.stderr.trim().split('\n'), path).toHaveLength(1);
      expect(r.stderr).toContain(words);
    }
    expect(repoState(root)).toEqual(before);
    await rm(join(root, 'input/link'));
  });

  it('a hand-edited pointer is refused in one line naming it, by status and by run', async () => {
    const { root, cli } = ctx;
    const good = await readFile(join(root, 'input/big.bin.dvc'), 'utf8');
    await writeFile(join(root, 'input/big.bin.dvc'), good.replace(/md5: [0-9a-f]+/, 'md5: abc123'));
    try {
      const status = await cli.run(['data', 'status'], root);
      expect(status.code).toBe(2);
      expect(status.stderr.trim()).toMatch(/^Error: input\/big\.bin\.dvc is not a valid DVC pointer \(outs\.0\.md5: must be 32 hex digits.*git checkout -- input\/big\.bin\.dvc$/);
      const head = git(root, 'rev-parse', 'HEAD');
      const r = await cli.run(['run', '--', 'true'], root);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('input/big.bin.dvc is not a valid DVC pointer');
      expect(git(root, 'rev-parse', 'HEAD')).toBe(head);
    } finally {
      await writeFile(join(root, 'input/big.bin.dvc'), good);
    }
  });

  it('a run reads tracked inputs at their project paths, read-only, and records them by digest', async () => {
    const { record, stdout, commit } = await run('md5sum input/big.bin input/imgs/a.txt input/imgs/sub/c.txt; echo x >> input/big.bin 2>/dev/null && echo WRITABLE || echo READONLY');
    expect(stdout).toContain(`${md5(big)}  input/big.bin`);
    expect(stdout).toContain(`${md5('gamma\n')}  input/imgs/sub/c.txt`);
    expect(stdout).toContain('READONLY');
    expect(record.data!.inputs.map((i) => i.path)).toEqual(['input/big.bin', 'input/imgs']);
    expect(record.data!.inputs[0]).toEqual({ path: 'input/big.bin', md5: md5(big), size: 2_000_000 });
    const trailer = git(ctx.root, 'log', '-1', '--format=%(trailers:key=Reprise-Data,valueonly)', commit).trim();
    expect(trailer).toBe(`sha256:${createHash('sha256').update(JSON.stringify(record.data)).digest('hex')}`);
    // The cache object is untouched by the job's attempt to write.
    expect(md5(await readFile(join(ctx.root, 'input/big.bin')))).toBe(md5(big));
    const show = await ctx.cli.run(['show', record.runId], ctx.root);
    expect(show.stdout).toContain(`input/big.bin  2000000 B  md5:${md5(big)}`);
  });

  it('a run after the workspace lost the data reads it from the cache by the pointers', async () => {
    await rm(join(ctx.root, 'input/big.bin'));
    await rm(join(ctx.root, 'input/imgs'), { recursive: true });
    const missing = await ctx.cli.json<{ tracked: Tracked[] }>(['data', 'status'], ctx.root);
    expect(missing.tracked.map((t) => t.state)).toEqual(['missing', 'missing']);
    const { stdout, record } = await run('md5sum input/big.bin input/imgs/a.txt');
    expect(stdout).toContain(`${md5(big)}  input/big.bin`);
    expect(stdout).toContain(`${md5('alpha\n')}  input/imgs/a.txt`);
    expect(record.data!.inputs[0]!.md5).toBe(md5(big));
    const restored = await ctx.cli.json<{ restored: string[] }>(['data', 'checkout'], ctx.root);
    expect(restored.restored).toEqual(['input/big.bin', 'input/imgs']);
    expect(md5(await readFile(join(ctx.root, 'input/big.bin')))).toBe(md5(big));
  });

  it('a tracked file changed after add: status says so, the run records (and commits) the new version', async () => {
    const { root, cli } = ctx;
    const oldFolder = (await cli.json<{ tracked: Tracked[] }>(['data', 'status'], root)).tracked[1]!.md5;
    await writeFile(join(root, 'input/imgs/a.txt'), 'alpha, revised\n');
    const status = await cli.json<{ tracked: Tracked[] }>(['data', 'status'], root);
    expect(status.tracked[1]).toMatchObject({ path: 'input/imgs', state: 'modified' });
    const { stdout, record } = await run('cat input/imgs/a.txt');
    expect(stdout).toContain('alpha, revised');
    const folder = record.data!.inputs.find((i) => i.path === 'input/imgs')!;
    expect(folder.md5).not.toBe(oldFolder);
    expect(git(root, 'show', 'HEAD:input/imgs.dvc')).toContain(folder.md5);
    expect((await cli.json<{ tracked: Tracked[] }>(['data', 'status'], root)).tracked.map((t) => t.state)).toEqual(['ok', 'ok']);
  });

  it('rerun stages exactly the recorded input versions after the workspace moved on', async () => {
    const first = runs[0]!;
    const r = await ctx.cli.run(['rerun', first], ctx.root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${md5('alpha\n')}  input/imgs/a.txt`);
    const [entry] = await ctx.cli.json<Feed[]>(['log', '-n', '1'], ctx.root);
    const rerun = await ctx.cli.json<Record>(['show', entry!.runId], ctx.root);
    const original = await ctx.cli.json<Record>(['show', first], ctx.root);
    expect(rerun.data!.inputs).toEqual(original.data!.inputs);
  });

  it('above data.autoTrack: a new input is tracked instead of committed, a large output becomes a pointer', async () => {
    const { root, cli } = ctx;
    const spec = await readFile(join(root, '.reprise/project.yaml'), 'utf8');
    await writeFile(join(root, '.reprise/project.yaml'), `${spec}data:\n  autoTrack: 100000\n`);
    const fresh = randomBytes(300_000);
    await writeFile(join(root, 'input/fresh.bin'), fresh);
    const large = await cli.json<{ untrackedLarge: { path: string }[] }>(['data', 'status'], root);
    expect(large.untrackedLarge.map((f) => f.path)).toEqual(['input/fresh.bin']);
    const { record, commit, stdout } = await run('md5sum input/fresh.bin; head -c 400000 /dev/urandom > output/model.bin; echo small > output/small.txt');
    expect(stdout).toContain(md5(fresh));
    expect(record.data!.inputs.find((i) => i.path === 'input/fresh.bin')).toEqual({ path: 'input/fresh.bin', md5: md5(fresh), size: 300_000 });
    const tree = git(root, 'ls-tree', '-r', '--name-only', commit).split('\n');
    expect(tree).toEqual(expect.arrayContaining(['input/fresh.bin.dvc', 'output/model.bin.dvc', 'output/small.txt', 'output/.gitignore']));
    expect(tree).not.toContain('input/fresh.bin');
    expect(tree).not.toContain('output/model.bin');
    const [out] = record.data!.outputs;
    expect(out).toMatchObject({ path: 'output/model.bin', size: 400_000 });
    expect(md5(await readFile(join(root, 'output/model.bin')))).toBe(out!.md5);
    const log = await cli.json<{ runId: string; role: string }[]>(['data', 'log', 'output/model.bin'], root);
    expect(log).toEqual([expect.objectContaining({ runId: record.runId, role: 'wrote' })]);
    const reads = await cli.json<{ runId: string; role: string }[]>(['data', 'log', 'input/big.bin'], root);
    expect(reads.map((r) => r.runId)).toEqual(expect.arrayContaining(runs.slice(0, 2)));
    expect(git(root, 'status', '--porcelain')).toBe('');
  });

  it('data gc removes only objects no commit or pointer references (dry run first)', async () => {
    const { root, cli } = ctx;
    const stray = md5('stray');
    const strayPath = join(root, `.dvc/cache/files/md5/${stray.slice(0, 2)}/${stray.slice(2)}`);
    await mkdir(join(strayPath, '..'), { recursive: true });
    await writeFile(strayPath, 'stray');
    const dry = await cli.json<{ removed: { md5: string }[]; kept: number }>(['data', 'gc', '--dry-run'], root);
    expect(dry.removed.map((r) => r.md5)).toEqual([stray]);
    expect(existsSync(strayPath)).toBe(true);
    const done = await cli.json<{ removed: { md5: string }[]; kept: number }>(['data', 'gc'], root);
    expect(done.removed.map((r) => r.md5)).toEqual([stray]);
    expect(done.kept).toBe(dry.kept);
    expect(existsSync(strayPath)).toBe(false);
    // Every version any commit points to is still there: the first run's inputs can be staged again.
    const r = await cli.run(['rerun', runs[0]!], root);
    expect(r.code, r.stderr).toBe(0);
  });
});
