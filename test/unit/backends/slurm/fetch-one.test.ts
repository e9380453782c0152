// The cluster cache's fetch of one object, run by a real sh against a local HTTP server: a good
// object lands read-only at its DVC path; bad bytes leave nothing; and an object another job puts
// in place while this one downloads is kept, inode and all (trees of hard links may hold it),
// where a rename over it would have left those trees on a lone inode.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FETCH_ONE } from '../../../../src/backends/slurm/data-cache.js';

const good = Buffer.from('the object\n');
const md5 = createHash('md5').update(good).digest('hex');
let work: string;
let server: Server;
let base: string;
let raceInode: number | undefined;

const objectIn = (cache: string) => join(cache, 'files', 'md5', md5.slice(0, 2), md5.slice(2));

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'reprise-fetch-one-'));
  server = createServer((req, res) => {
    if (req.url === '/good') return res.end(good);
    if (req.url === '/bad') return res.end('not the bytes');
    if (req.url === '/race') {
      // "Another job" finishes first: its copy is in place before this download ends.
      const object = objectIn(join(work, 'race'));
      void mkdir(join(object, '..'), { recursive: true })
        .then(() => writeFile(object, good, { mode: 0o444 }))
        .then(() => stat(object))
        .then((s) => {
          raceInode = s.ino;
          res.end(good);
        });
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

async function fetchOne(name: string, path: string): Promise<string> {
  const cache = join(work, name);
  await mkdir(cache, { recursive: true });
  const urls = join(work, `${name}.urls`);
  await writeFile(urls, `${md5} ${base}${path}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', FETCH_ONE, 'sh', cache, urls, md5], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += String(c)));
    child.on('error', reject);
    child.on('close', () => resolve(out.trim()));
  });
}

const leftovers = async (cache: string) => (await readdir(join(cache, 'files', 'md5', md5.slice(0, 2)))).filter((n) => n !== md5.slice(2));

it('puts a good object in place read-only, and refuses bad bytes leaving nothing', async () => {
  expect(await fetchOne('good', '/good')).toBe(`fetched ${md5} ${good.length}`);
  expect((await stat(objectIn(join(work, 'good')))).mode & 0o777).toBe(0o444);
  expect(await leftovers(join(work, 'good'))).toEqual([]);
  expect(await fetchOne('bad', '/bad')).toMatch(new RegExp(`^mismatch ${md5} [0-9a-f]{32}$`));
  await expect(stat(objectIn(join(work, 'bad')))).rejects.toThrow();
  expect(await leftovers(join(work, 'bad'))).toEqual([]);
});

it("keeps another job's copy that got there first, inode and all, and leaves no part file", async () => {
  expect(await fetchOne('race', '/race')).toBe(`fetched ${md5} ${good.length}`);
  expect(raceInode).toBeDefined();
  expect((await stat(objectIn(join(work, 'race')))).ino).toBe(raceInode);
  expect(await leftovers(join(work, 'race'))).toEqual([]);
});
