import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A lab's Jupyter token, derived from a key kept in the user's Reprise home (0600) and the lab
 * id: the worker that starts the server and the CLI that opens the tunnel compute the same token,
 * and it never travels in a workflow's input or history.
 */
export async function labToken(home: string, labId: string): Promise<string> {
  return createHmac('sha256', await labKey(home)).update(labId).digest('hex').slice(0, 48);
}

async function labKey(home: string): Promise<Buffer> {
  const file = join(home, 'lab.key');
  try {
    const key = await readFile(file);
    if (key.length >= 32) return key;
  } catch {
    /* made below */
  }
  await mkdir(home, { recursive: true });
  // 'wx': two processes making it at once keep the first one's key.
  await writeFile(file, randomBytes(32), { mode: 0o600, flag: 'wx' }).catch(() => undefined);
  return readFile(file);
}
