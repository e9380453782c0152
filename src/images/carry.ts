import type Docker from 'dockerode';
import { execFile } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { badInput } from '../errors.js';
import { exportBundle, importBundle } from '../project/bundle.js';
import { assertFreeDirectory } from '../project/new-directory.js';
import { findRun, readRunRecord } from '../project/history.js';
import { listTarFile } from '../project/tar-members.js';
import { exportImageArchive, importImageArchive } from './archive.js';

const run = promisify(execFile);

/**
 * A project and the images of chosen runs in one file, for machines that share no remote and
 * no registry. Without images the file is the plain git bundle; with them, a tar holding
 * `project.bundle`, `images/<id hex>.tar` (docker save) and `manifest.json`.
 */
const BUNDLE = 'project.bundle';
const MANIFEST = 'manifest.json';
const IMAGE_MEMBER = /^images\/[0-9a-f]{64}\.tar$/;

interface Manifest {
  version: 1;
  images: { runId: string; digest: string; file: string }[];
}

export async function exportProject(
  docker: Docker,
  root: string,
  file: string,
  runs: string[],
): Promise<{ file: string; bytes: number; branches: number; images: Manifest['images'] }> {
  if (runs.length === 0) return { ...(await exportBundle(root, file)), images: [] };
  const dest = resolve(file);
  const dir = await mkdtemp(join(dirname(dest), `.${basename(dest)}.export-`));
  try {
    const { branches } = await exportBundle(root, join(dir, BUNDLE));
    const images: Manifest['images'] = [];
    await mkdir(join(dir, 'images'));
    for (const idOrPrefix of runs) {
      const record = await readRunRecord(root, await findRun(root, idOrPrefix));
      const file = `images/${record.image.digest.replace(/^sha256:/, '')}.tar`;
      if (!IMAGE_MEMBER.test(file)) throw badInput(`run ${record.runId} recorded image "${record.image.digest}", not a sha256 image id`);
      if (!images.some((i) => i.file === file)) await exportImageArchive(docker, record.image, join(dir, file));
      images.push({ runId: record.runId, digest: record.image.digest, file });
    }
    await writeFile(join(dir, MANIFEST), JSON.stringify({ version: 1, images } satisfies Manifest, null, 2) + '\n');
    const partial = join(dir, 'export.tar');
    const members = [BUNDLE, MANIFEST, ...new Set(images.map((i) => i.file))];
    await run('tar', ['-cf', partial, '--owner=0', '--group=0', '--numeric-owner', '-C', dir, ...members]);
    await rename(partial, dest);
    return { file: dest, bytes: (await stat(dest)).size, branches, images };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** True when the file is a tar (ustar magic at offset 257) rather than a bare git bundle. */
function isTar(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const magic = Buffer.alloc(5);
    readSync(fd, magic, 0, 5, 257);
    return magic.toString('latin1') === 'ustar';
  } finally {
    closeSync(fd);
  }
}

/**
 * Open an export: a bare bundle as before; a tar is judged from its headers first (only the
 * members an export holds, all plain files, so nothing can land outside the scratch directory),
 * its images loaded into the engine, then its project imported.
 */
export async function importProject(
  docker: Docker,
  file: string,
  dir: string | undefined,
  cwd: string,
): Promise<{ root: string; branches: string[]; head: string; images: string[] }> {
  const path = resolve(cwd, file);
  try {
    await stat(path);
  } catch {
    throw badInput(`no file ${path}`);
  }
  if (!isTar(path)) return { ...(await importBundle(path, dir, cwd)), images: [] };
  const refuse = (why: string) => badInput(`${path} is not a valid Reprise export (${why}); nothing was imported`);
  let members;
  try {
    members = listTarFile(path);
  } catch (err) {
    throw refuse((err as Error).message);
  }
  for (const m of members) {
    const allowed = m.type === 'file' ? m.name === BUNDLE || m.name === MANIFEST || IMAGE_MEMBER.test(m.name) : m.type === 'directory' && m.name.replace(/\/$/, '') === 'images';
    if (!allowed) throw refuse(`unexpected member "${m.name}" (${m.type})`);
  }
  if (!members.some((m) => m.name === BUNDLE)) throw refuse(`no ${BUNDLE}`);
  const target = resolve(cwd, dir ?? basename(path).replace(/\.[^.]*$/, ''));
  await assertFreeDirectory(target); // before any image is loaded (importBundle checks again)
  const scratch = await mkdtemp(join(dirname(target), '.reprise-import-'));
  try {
    await run('tar', ['-xf', path, '-C', scratch, '--no-same-owner', '--no-same-permissions']).catch((err: Error) => {
      throw refuse(err.message.split('\n').slice(-2).join(' '));
    });
    let manifest: Manifest;
    try {
      manifest = JSON.parse(await readFile(join(scratch, MANIFEST), 'utf8')) as Manifest;
    } catch {
      throw refuse(`no readable ${MANIFEST}`);
    }
    const images: string[] = [];
    for (const image of new Set(manifest.images.map((i) => i.file))) {
      if (!IMAGE_MEMBER.test(image)) throw refuse(`image file "${image}"`);
      images.push(...(await importImageArchive(docker, join(scratch, image))));
    }
    return { ...(await importBundle(join(scratch, BUNDLE), target, cwd)), images };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
