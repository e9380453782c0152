import { mkdir, rm, stat } from 'node:fs/promises';

const STALE_MS = 120_000;

/**
 * A cross-process lock made of an atomic mkdir; a lock older than STALE_MS is taken to be
 * left by a crashed process (recording a run takes well under a second).
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 10; ; delay = Math.min(delay * 2, 250)) {
    try {
      await mkdir(path);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > STALE_MS) await rm(path, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${path}; remove it if no Reprise process is running`);
      else await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(path, { recursive: true, force: true });
  }
}
