import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobSecret } from '../config/project-secrets.js';

/** A job's secrets as files in `dir` (0700, each file 0600), made afresh: nothing of an earlier attempt stays. */
export async function writeSecretFiles(dir: string, secrets: JobSecret[]): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  if (secrets.length === 0) return;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  for (const s of secrets) await writeFile(join(dir, s.name), s.content, { mode: 0o600, flag: 'wx' });
}
