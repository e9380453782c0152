import { createHash, randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { badInput, notFound } from '../errors.js';

/**
 * Project secrets (as Gigantum had them): files a user keeps outside the project, which every run
 * of that project sees read-only at /run/secrets/NAME. They live in the user's Reprise home,
 * `$REPRISE_HOME/secrets/<project key>/NAME` (directories 0700, files 0600), never in git, the
 * workflow input or its history: the worker reads them when it submits the job.
 */

/** Where every backend mounts a run's secrets inside the job. */
export const SECRETS_MOUNT = '/run/secrets';

/** A secret larger than this is refused: secrets are keys and tokens, not data (use datasets for data). */
export const MAX_SECRET_BYTES = 1024 * 1024;

/** A shell-style identifier, so a name is one safe path segment and never clashes with Reprise's own (lab token). */
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export interface SecretEntry {
  name: string;
  size: number;
}

/** A secret's content on its way to one job (held in the worker's memory only). */
export interface JobSecret {
  name: string;
  content: Buffer;
}

/**
 * The folder of one project's secrets: keyed by the project's id (`project.yaml` `id`, a UUID made
 * by `reprise init`, the same in every clone), so two projects' secrets never mix and a clone of
 * the same project (a team worker's) finds them. An id that is not a plain path segment is hashed.
 */
export function secretsDir(home: string, projectId: string): string {
  const key = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(projectId) ? projectId : `sha256-${createHash('sha256').update(projectId).digest('hex')}`;
  return join(home, 'secrets', key);
}

export function checkSecretName(name: string): string {
  if (!NAME.test(name)) throw badInput(`secret name "${name}" is not a simple identifier; use letters, digits and "_" (not starting with a digit, at most 64)`);
  return name;
}

/** Keep a copy of `file` as secret NAME; replaces an earlier one of that name. Checked whole before anything is written. */
export async function addSecret(home: string, projectId: string, name: string, file: string): Promise<SecretEntry> {
  checkSecretName(name);
  const info = await stat(file).catch(() => undefined);
  if (!info) throw badInput(`no file ${file}; give the path of the file holding the secret`);
  if (!info.isFile()) throw badInput(`${file} is not a regular file; a secret is one file (put several in several secrets)`);
  if (info.size > MAX_SECRET_BYTES) throw badInput(`${file} is ${info.size} bytes; a secret holds at most ${MAX_SECRET_BYTES} bytes (1 MiB): keep data in input/ or a dataset`);
  const content = await readFile(file);
  if (content.length > MAX_SECRET_BYTES) throw badInput(`${file} grew beyond ${MAX_SECRET_BYTES} bytes while read; a secret holds at most 1 MiB`);
  const dir = await ensureDir(home, projectId);
  // Written aside then renamed: a job submitted meanwhile reads the old or the new secret, never half of one.
  const fresh = join(dir, `.incoming-${randomBytes(6).toString('hex')}`);
  await writeFile(fresh, content, { mode: 0o600, flag: 'wx' });
  await rename(fresh, join(dir, name));
  return { name, size: content.length };
}

export async function listSecrets(home: string, projectId: string): Promise<SecretEntry[]> {
  const dir = secretsDir(home, projectId);
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => NAME.test(n)).sort();
  const entries = await Promise.all(names.map(async (name) => ({ name, info: await lstat(join(dir, name)).catch(() => undefined) })));
  return entries.filter((e) => e.info?.isFile()).map((e) => ({ name: e.name, size: e.info!.size }));
}

export async function removeSecret(home: string, projectId: string, name: string): Promise<SecretEntry> {
  checkSecretName(name);
  const entry = (await listSecrets(home, projectId)).find((s) => s.name === name);
  if (!entry) throw notFound(`this project has no secret ${name}; list them with: reprise secret list`);
  await rm(join(secretsDir(home, projectId), name), { force: true });
  return entry;
}

/** Every secret of the project with its content, for the job about to be submitted. */
export async function readSecrets(home: string, projectId: string): Promise<JobSecret[]> {
  const dir = secretsDir(home, projectId);
  return Promise.all((await listSecrets(home, projectId)).map(async ({ name }) => ({ name, content: await readFile(join(dir, name)) })));
}

async function ensureDir(home: string, projectId: string): Promise<string> {
  const dir = secretsDir(home, projectId);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is masked and leaves existing folders as they were: both made 0700 here.
  await chmod(join(home, 'secrets'), 0o700);
  await chmod(dir, 0o700);
  return dir;
}
