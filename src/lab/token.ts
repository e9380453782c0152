import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A lab's Jupyter token, derived from a key kept in the user's Reprise home (0600) and the lab
 * id: the worker that starts the server and the CLI that opens the tunnel compute the same token,
 * and it never travels in a workflow's input or history.
 */
export async function labToken(home: string, labId: string): Promise<string> {
  return createHmac('sha256', await labKey(home)).update(labId).digest('hex').slice(0, 48);
}

/** The lab's token reaches the job as this secret (/run/secrets/reprise-lab-token): a name no project secret can take. */
export const LAB_TOKEN_SECRET = 'reprise-lab-token';

const KEY_BYTES = 32;

async function labKey(home: string): Promise<Buffer> {
  const file = join(home, 'lab.key');
  const existing = await readFile(file).catch(() => undefined);
  if (existing && existing.length >= KEY_BYTES) return existing;
  await mkdir(home, { recursive: true });
  if (!existing) {
    // 'wx': two processes making it at once keep the first one's key.
    await writeFile(file, randomBytes(KEY_BYTES), { mode: 0o600, flag: 'wx' }).catch(() => undefined);
  } else {
    // An empty or short key (truncated, or written by hand) would make guessable tokens: replaced whole, never used.
    const fresh = `${file}.${randomBytes(6).toString('hex')}`;
    await writeFile(fresh, randomBytes(KEY_BYTES), { mode: 0o600, flag: 'wx' });
    await rename(fresh, file);
  }
  return readFile(file);
}
