// The pod's tree script (a tracked folder as a tree of hard links in the data cache claim) and the
// fetch script's skip of objects whose trees are built, run here by a real sh on a local
// directory laid out as the claim: complete or absent, built once, two builders at once leave one
// whole tree, a failure leaves nothing half-built.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FETCH_SCRIPT, TREE_SCRIPT } from '../../../../src/backends/kubernetes/pod-data.js';

let work: string;
let objects: string;
let treesDir: string;
const A = 'aa'.padEnd(32, '1');
const B = 'bb'.padEnd(32, '2');

function sh(script: string, args: string[], stdin: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script, 'sh', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += String(c)));
    child.stderr.on('data', (c: Buffer) => (err += String(c)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out, err }));
    child.stdin.end(stdin);
  });
}

const object = (md5: string) => join(objects, md5.slice(0, 2), md5.slice(2));

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'reprise-claim-trees-'));
  objects = join(work, 'files', 'md5');
  treesDir = join(work, 'trees');
  for (const [md5, text] of [[A, 'a\n'], [B, 'b\n']] as const) {
    await mkdir(join(object(md5), '..'), { recursive: true });
    await writeFile(object(md5), text, { mode: 0o444 });
  }
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('trees in the data cache claim', () => {
  it('builds each tree once, of hard links to the objects (a name with a space, a subfolder, an empty folder), and keeps it after', async () => {
    const list = `t1 ${A} sub/a 1.txt\nt1 ${B} b.txt\nt2 - -\n`;
    const first = await sh(TREE_SCRIPT, [objects, treesDir], list);
    expect(first).toMatchObject({ code: 0, out: 'built t1\nbuilt t2\n' });
    expect((await stat(join(treesDir, 't1', 'sub', 'a 1.txt'))).ino).toBe((await stat(object(A))).ino);
    expect((await stat(join(treesDir, 't1', 'b.txt'))).ino).toBe((await stat(object(B))).ino);
    expect(await readdir(join(treesDir, 't2'))).toEqual([]);
    const before = (await stat(join(treesDir, 't1'))).mtimeMs;
    expect(await sh(TREE_SCRIPT, [objects, treesDir], list)).toMatchObject({ code: 0, out: 'kept t1\nkept t2\n' });
    expect((await stat(join(treesDir, 't1'))).mtimeMs).toBe(before);
    expect((await readdir(treesDir)).sort()).toEqual(['t1', 't2']);
  });

  it('two builders at once leave one whole tree and no part', async () => {
    const list = Array.from({ length: 400 }, (_, i) => `t3 ${i % 2 ? A : B} d${i % 7}/f${i}\n`).join('');
    const runs = await Promise.all([sh(TREE_SCRIPT, [objects, treesDir], list), sh(TREE_SCRIPT, [objects, treesDir], list)]);
    for (const r of runs) expect(r.code, r.err).toBe(0);
    expect(runs.map((r) => r.out).sort()).toEqual(expect.arrayContaining(['built t3\n']));
    expect((await readdir(treesDir)).sort()).toEqual(['t1', 't2', 't3']);
    expect((await readdir(join(treesDir, 't3'), { recursive: true })).filter((p) => p.includes('/f')).length).toBe(400);
  });

  it('an object missing from the claim fails the build and leaves no tree, whole or half-built', async () => {
    const r = await sh(TREE_SCRIPT, [objects, treesDir], `t4 ${A} a\nt4 ${'cc'.padEnd(32, '3')} c\n`);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/the object c+3+ of the tree t4 is not in the claim/);
    expect((await readdir(treesDir)).sort()).toEqual(['t1', 't2', 't3']);
  });

  it('the fetch script does not look for an object whose trees are all built, and does for one a missing tree needs', async () => {
    const missing = 'dd'.padEnd(32, '4');
    // Port 9 on 127.0.0.1: nothing listens, so an object looked for fails to fetch.
    // The second line after an object was looked for: the trees' directory must survive that.
    const r = await sh(FETCH_SCRIPT, [objects, treesDir], `${missing} http://127.0.0.1:9/x t1,t9\n${missing} http://127.0.0.1:9/x t1,t2\n`);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^failed ${missing} `));
    expect(lines[1]).toBe(`cached ${missing}`);
  });
});
