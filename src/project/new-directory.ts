import { existsSync } from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { badInput } from '../errors.js';

/** A directory a new project may be made in: absent or empty. */
export async function assertFreeDirectory(root: string): Promise<void> {
  if (existsSync(root) && (await readdir(root)).length > 0) throw badInput(`${root} exists and is not empty; give another directory`);
}

/**
 * Make a project directory all at once: `fill` works in a staging directory beside `root`,
 * which is moved into place only when `fill` succeeds, so a failure leaves nothing behind.
 */
export async function intoNewDirectory<T>(root: string, label: string, fill: (staging: string) => Promise<T>): Promise<T> {
  await assertFreeDirectory(root);
  const staging = join(dirname(root), `.${basename(root)}.reprise-${label}-${process.pid}`);
  try {
    const result = await fill(staging);
    await rm(root, { recursive: true, force: true }); // an empty directory given as destination
    await rename(staging, root);
    return result;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
