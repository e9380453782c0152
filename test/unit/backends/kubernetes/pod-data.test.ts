// The pod's fetch and put scripts run here by a real sh against a local HTTP server, with a PATH
// holding only the tools one kind of image has: curl, wget, or python3 alone (a slim Python image
// has neither curl nor wget), and none at all. Each must move the bytes and verify them the same.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FETCH_SCRIPT, PUT_SCRIPT } from '../../../../src/backends/kubernetes/pod-data.js';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const good = randomBytes(200_000);
const put = new Map<string, Buffer>();
let server: Server;
let base: string;
let work: string;
/** Where `/race` puts "another pod's" copy of `good` before it answers. */
let raceObject: string | undefined;
let raceInode: number | undefined;

/** What a shell needs besides the tools under test: the coreutils the scripts call. */
const BASICS = ['sh', 'mkdir', 'rm', 'mv', 'ln', 'wc', 'cat', 'chmod', 'md5sum'];

async function pathWith(name: string, tools: string[]): Promise<string> {
  const bin = join(work, `bin-${name}`);
  await mkdir(bin, { recursive: true });
  for (const tool of tools) {
    const real = tool === 'python3' ? execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim() : execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
    await symlink(real, join(bin, tool));
  }
  return bin;
}

function sh(script: string, args: string[], stdin: string, path: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(path, 'sh'), ['-c', script, 'sh', ...args], { env: { PATH: path }, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += String(c)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
    child.stdin.end(stdin);
  });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'reprise-pod-data-'));
  server = createServer((req, res) => {
    if (req.method === 'PUT') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        put.set(req.url!, Buffer.concat(chunks));
        res.end();
      });
      return;
    }
    if (req.url === '/good') return res.end(good);
    if (req.url === '/race') {
      void mkdir(join(raceObject!, '..'), { recursive: true })
        .then(() => writeFile(raceObject!, good))
        .then(() => {
          raceInode = statSync(raceObject!).ino;
          res.end(good);
        });
      return;
    }
    if (req.url === '/bad') return res.end('not the bytes');
    res.statusCode = 403;
    res.end('<Error>AccessDenied</Error>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe.each([
  ['curl', ['curl']],
  ['wget', ['wget']],
  ['python3 alone', ['python3']],
  ['python3 without md5sum', ['python3']],
])('the pod scripts with %s', (name, tools) => {
  it('fetch a good object once, refuse bad bytes, report a refused URL and a missing tool', async () => {
    const basics = name.includes('without md5sum') ? BASICS.filter((t) => t !== 'md5sum') : BASICS;
    const path = await pathWith(name.replace(/\W+/g, '-'), [...basics, ...tools]);
    const objects = join(work, `objects-${name.replace(/\W+/g, '-')}`);
    const badMd5 = md5(Buffer.from('the bytes'));
    const gone = '0'.repeat(32);
    const lines = `${md5(good)} ${base}/good\n${badMd5} ${base}/bad\n${gone} ${base}/gone\n`;
    const first = await sh(FETCH_SCRIPT, [objects], lines, path);
    expect(first.code).toBe(0);
    expect(first.out.split('\n').filter(Boolean)).toEqual([`fetched ${md5(good)} ${good.length}`, `mismatch ${badMd5} ${md5(Buffer.from('not the bytes'))}`, expect.stringMatching(new RegExp(`^failed ${gone} [1-9][0-9]*$`))]);
    // DVC's cache layout (xx/rest), as the SLURM cluster's cache and the local one.
    const [head, rest] = [md5(good).slice(0, 2), md5(good).slice(2)];
    expect(md5(await readFile(join(objects, head, rest)))).toBe(md5(good));
    // Nothing half-written is left, and a second pass fetches nothing.
    expect(execFileSync('sh', ['-c', 'cd "$1" && find . -type f', 'sh', objects], { encoding: 'utf8' }).trim()).toBe(`./${head}/${rest}`);
    const again = await sh(FETCH_SCRIPT, [objects], `${md5(good)} ${base}/good\n`, path);
    expect(again.out.trim()).toBe(`cached ${md5(good)}`);
  });

  // wget cannot PUT: the script says there is no tool (the worker then pipes the file itself).
  it(name === 'wget' ? 'cannot put: exit 127, as with no tool' : 'put a file to its URL', async () => {
    const path = await pathWith(`${name.replace(/\W+/g, '-')}-put`, [...BASICS, ...tools]);
    const held = join(work, `held-${name.replace(/\W+/g, '-')}`);
    await mkdir(held, { recursive: true });
    await writeFile(join(held, '0'), good);
    const url = `/put-${name.replace(/\W+/g, '-')}?X-Amz-Signature=x`;
    const done = await sh(PUT_SCRIPT, [held], `0 ${base}${url}\n`, path);
    if (name === 'wget') {
      expect(done.out.trim()).toBe('failed 0 127');
      expect(put.has(url)).toBe(false);
      return;
    }
    expect(done.out.trim()).toBe('stored 0');
    expect(md5(put.get(url)!)).toBe(md5(good));
  });
});

it('with none of curl, wget or python3, the scripts say so (exit 127) instead of failing silently', async () => {
  const path = await pathWith('none', BASICS);
  const fetched = await sh(FETCH_SCRIPT, [join(work, 'objects-none')], `${md5(good)} ${base}/good\n`, path);
  expect(fetched.out.trim()).toBe(`failed ${md5(good)} 127`);
  const held = join(work, 'held-none');
  await mkdir(held, { recursive: true });
  await writeFile(join(held, '0'), good);
  expect((await sh(PUT_SCRIPT, [held], `0 ${base}/x\n`, path)).out.trim()).toBe('failed 0 127');
});

it("an object another pod put in place while this one fetched it is kept: a tree's hard link to it stays the claim's object", async () => {
  const path = await pathWith('race', [...BASICS, 'curl']);
  const objects = join(work, 'objects-race');
  const m = md5(good);
  raceObject = join(objects, m.slice(0, 2), m.slice(2));
  const fetched = await sh(FETCH_SCRIPT, [objects], `${m} ${base}/race\n`, path);
  expect(fetched.out.trim()).toBe(`fetched ${m} ${good.length}`);
  // The other pod's file (its inode; still writable, where this pod's part was made read-only), not a rename over it; this pod's part is gone.
  expect(statSync(raceObject).ino).toBe(raceInode);
  expect(statSync(raceObject).mode & 0o222).not.toBe(0);
  expect(execFileSync('sh', ['-c', 'cd "$1" && find . -type f', 'sh', objects], { encoding: 'utf8' }).trim()).toBe(`./${m.slice(0, 2)}/${m.slice(2)}`);
});
