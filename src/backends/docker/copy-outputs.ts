import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, opendir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CollectTally, LINK_REFUSED, SPECIAL_REFUSED } from '../output-limit.js';

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY, O_DIRECTORY, O_WRONLY, O_CREAT, O_EXCL } = constants;
// O_NONBLOCK: a pipe swapped in after the lstat is opened without waiting for a writer.
const READ_NO_FOLLOW = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;

/**
 * Copy a directory the job wrote (`from`, e.g. its output/) into `to` with nothing followed: the
 * top folder and every entry are opened with O_NOFOLLOW and judged by fstat of what was opened,
 * and children are reached through the parent's descriptor (/proc/self/fd/N/name, as openat
 * does), so a job swapping a file or folder for a link while this runs cannot redirect a read.
 * Returns false when `from` does not exist.
 */
export async function copyOutputs(from: string, to: string, path: string, tally: CollectTally): Promise<boolean> {
  let dir: FileHandle;
  try {
    dir = await open(from, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    if (code !== 'ELOOP' && code !== 'ENOTDIR') throw err;
    // O_DIRECTORY answers ENOTDIR for a link too: lstat only words the refusal.
    const link = await lstat(from).then((s) => s.isSymbolicLink(), () => false);
    tally.refuse(path, link ? `${LINK_REFUSED}; nothing under it was read` : 'not a directory; nothing was read from it');
    return true;
  }
  try {
    await mkdir(to, { recursive: true });
    await copyDir(dir, to, path, tally);
  } finally {
    await dir.close();
  }
  return true;
}

async function copyDir(dir: FileHandle, to: string, path: string, tally: CollectTally): Promise<void> {
  const here = `/proc/self/fd/${dir.fd}`;
  for await (const e of await opendir(here)) {
    const rel = `${path}/${e.name}`;
    // lstat first so a device or pipe is never opened; what is opened is checked again below.
    const seen = await lstat(join(here, e.name)).catch(() => undefined);
    if (!seen) continue; // removed meanwhile
    if (seen.isSymbolicLink()) {
      tally.refuse(rel, LINK_REFUSED);
      continue;
    }
    if (!seen.isFile() && !seen.isDirectory()) {
      tally.refuse(rel, SPECIAL_REFUSED);
      continue;
    }
    let child: FileHandle;
    try {
      child = await open(join(here, e.name), READ_NO_FOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') tally.refuse(rel, LINK_REFUSED);
      else if (code !== 'ENOENT') throw err;
      continue;
    }
    try {
      const opened = await child.stat();
      if (!sameObject(seen, opened)) tally.refuse(rel, 'changed while it was collected; left out');
      else if (opened.isDirectory()) {
        await mkdir(join(to, e.name));
        await copyDir(child, join(to, e.name), rel, tally);
      } else if (tally.admit(rel, opened.size)) await copyFile(child, join(to, e.name), opened.size);
    } finally {
      await child.close();
    }
  }
}

const sameObject = (a: Stats, b: Stats) => a.dev === b.dev && a.ino === b.ino && a.isFile() === b.isFile() && a.isDirectory() === b.isDirectory();

/** At most the `size` bytes fstat saw: a file that grows meanwhile cannot pass the limits. */
async function copyFile(source: FileHandle, target: string, size: number): Promise<void> {
  const out = await open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
  try {
    const buf = Buffer.allocUnsafe(Math.min(size, 1 << 20));
    for (let at = 0; at < size; ) {
      const { bytesRead } = await source.read(buf, 0, Math.min(buf.length, size - at), at);
      if (bytesRead === 0) break; // truncated meanwhile: what there was
      await out.write(buf, 0, bytesRead);
      at += bytesRead;
    }
  } finally {
    await out.close();
  }
}
