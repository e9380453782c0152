import { lstat, open } from 'node:fs/promises';
import { join } from 'node:path';
import { badInput } from '../errors.js';
import type { Git } from './git.js';

/** PEM (PKCS#1, PKCS#8, EC, DSA, encrypted) and OpenSSH private keys all open with this line. */
const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
/** Keys are small; a key pasted into a notebook or a note sits near its start. */
const SCANNED_BYTES = 1 << 20;

/**
 * Refuse to sweep a file that holds a private key: once in history it is pushed, synced and
 * published with the project. Checked before `git add`, so not even a loose object is written.
 */
export async function refusePrivateKeys(git: Git, pathspec: string[]): Promise<void> {
  // Porcelain -z: "XY <path>\0" for each file that differs from HEAD or is untracked (not ignored).
  const entries = (await git.run(['status', '--porcelain=v1', '-z', '--no-renames', '--untracked-files=all', '--', ...pathspec])).split('\0');
  for (const entry of entries) {
    const path = entry.slice(3);
    if (!path || entry[0] === 'D' || entry[1] === 'D') continue;
    const file = join(git.dir, path);
    // Only regular files: a symlink is committed as its target's name, never the file it points at.
    const info = await lstat(file).catch(() => undefined);
    if (info?.isFile() && (await holdsPrivateKey(file))) {
      throw badInput(`${path} looks like a private key; Reprise will not commit it: move it out of the project (or add it to .gitignore) and run again`);
    }
  }
}

async function holdsPrivateKey(file: string): Promise<boolean> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return false;
  try {
    const buffer = Buffer.alloc(SCANNED_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, SCANNED_BYTES, 0);
    return PRIVATE_KEY.test(buffer.toString('latin1', 0, bytesRead));
  } finally {
    await handle.close();
  }
}
