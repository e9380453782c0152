import type Docker from 'dockerode';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { backendUnavailable, badInput, notFound } from '../errors.js';
import { pingEngine, statusCode } from './engine.js';
import { layerProgress, type OnTransfer } from './transfer-progress.js';
import type { ImageRef } from './types.js';

/** `<registry>/<project>:<digest hex 12>`: one name per project, one tag per image. */
export function registryReference(registry: string, image: ImageRef): { repository: string; tag: string } {
  const hex = image.digest.replace(/^sha256:/, '');
  const repoPart = (image.tag ?? 'reprise/run').replace(/:[^/:]*$/, '');
  const project = (repoPart.split('/').pop() ?? 'run').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[._-]+/, '') || 'run';
  return { repository: `${registry.replace(/\/+$/, '')}/${project}`, tag: hex.slice(0, 12) };
}

/** The registry host of a reference (`host[:port]/repo@sha256:…` → `host[:port]`). */
export const registryHost = (reference: string) => reference.split('/')[0]!;

/** True when `reference` lives in `registry` (host[:port][/path]). */
export const isInRegistry = (reference: string, registry: string) => reference.startsWith(`${registry.replace(/\/+$/, '')}/`);

/** A reference pinned by manifest digest: `<registry>/<repo>@sha256:<64 hex>`. */
export const DIGEST_REFERENCE = /^[a-zA-Z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)+@sha256:[0-9a-f]{64}$/;

interface ProgressEvent {
  id?: string;
  status?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  aux?: { Digest?: string };
}

async function follow(docker: Docker, stream: NodeJS.ReadableStream, onEvent: (e: ProgressEvent) => void): Promise<void> {
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve()), onEvent));
}

/**
 * Tag the local image for the registry and push it (a push of layers the registry already has
 * only checks them). Returns the pushed reference pinned by its manifest digest, so whoever
 * pulls it gets exactly this image.
 */
export async function pushImage(docker: Docker, registry: string, image: ImageRef, onProgress?: OnTransfer): Promise<string> {
  await pingEngine(docker);
  const { repository, tag } = registryReference(registry, image);
  try {
    await docker.getImage(image.digest).tag({ repo: repository, tag });
  } catch (err) {
    if (statusCode(err) === 404) throw notFound(`image ${image.digest} is not in the local Docker engine; rebuild it with: reprise env build`);
    throw err;
  }
  const authconfig = await dockerAuth(registryHost(repository));
  let failure: string | undefined;
  let digest: string | undefined;
  const progress = layerProgress(`pushing ${repository}`, onProgress);
  try {
    const stream = await docker.getImage(repository).push({ tag, ...(authconfig ? { authconfig } : {}) });
    await follow(docker, stream, (event) => {
      progress(event);
      if (event.error) failure = event.error.trim();
      if (event.aux?.Digest) digest = event.aux.Digest;
    });
  } catch (err) {
    failure = (err as Error).message;
  }
  if (failure) throw registryFailure('pushing', `${repository}:${tag}`, failure);
  if (!digest) throw backendUnavailable(`pushing ${repository}:${tag} reported no manifest digest; check the registry ${registry}`);
  return `${repository}@${digest}`;
}

/**
 * Pull an image by its digest reference into the local engine. The image id (its config digest)
 * survives push and pull, so the pulled image has the id the run recorded; the caller checks it.
 */
export async function pullImage(docker: Docker, reference: string, onProgress?: OnTransfer): Promise<void> {
  await pingEngine(docker);
  if (!DIGEST_REFERENCE.test(reference)) throw badInput(`"${reference}" is not an image pinned by digest (registry/repo@sha256:…)`);
  const authconfig = await dockerAuth(registryHost(reference));
  let failure: string | undefined;
  const progress = layerProgress(`pulling ${reference.replace(/@sha256:(.{12}).*/, '@sha256:$1…')}`, onProgress);
  try {
    const stream = await docker.pull(reference, authconfig ? { authconfig } : {});
    await follow(docker, stream, (event) => {
      progress(event);
      if (event.error) failure = event.error.trim();
    });
  } catch (err) {
    failure = (err as Error).message;
  }
  if (failure) throw registryFailure('pulling', reference, failure);
}

/** One line that says which of the usual registry failures this is and what to do. */
function registryFailure(verb: string, ref: string, failure: string) {
  const first = failure.split('\n')[0]!.replace(/^\(HTTP code \d+\) [a-z ]+ - /, '');
  const host = registryHost(ref);
  if (/manifest unknown|not found|404/i.test(first)) {
    return notFound(`${verb} ${ref} failed: the registry has no such image (${first}); it may have been deleted: rebuild with reprise env build, or import it with reprise image import`);
  }
  if (/unauthorized|authentication required|no basic auth credentials|denied|401|403/i.test(first)) {
    return badInput(`${verb} ${ref} failed: the registry refused the credentials (${first}); run: docker login ${host}`);
  }
  return backendUnavailable(`${verb} ${ref} failed: ${first}; check that the registry ${host} is reachable (reprise registry show)`);
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress: string;
}

/**
 * Credentials for a registry from the user's Docker config (what `docker login` wrote): a
 * credential helper for the host (`credHelpers`), else the default store (`credsStore`), else an
 * inline `auths` entry. They are read where the image moves and passed to the engine; they never
 * enter a project, a record or a workflow payload.
 */
export async function dockerAuth(host: string, env: NodeJS.ProcessEnv = process.env): Promise<RegistryAuth | undefined> {
  const dir = env.DOCKER_CONFIG ?? join(homedir(), '.docker');
  let config: DockerConfigFile;
  try {
    config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as DockerConfigFile;
  } catch {
    return undefined;
  }
  const helper = config.credHelpers?.[host] ?? config.credsStore;
  if (helper) {
    const fromHelper = await credentialHelper(helper, host, env);
    if (fromHelper) return fromHelper;
  }
  const entry = config.auths?.[host] ?? config.auths?.[`https://${host}`] ?? config.auths?.[`http://${host}`];
  if (!entry?.auth) return undefined;
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), serveraddress: host };
}

/** The docker-credential-helpers protocol: `docker-credential-<name> get`, host on stdin, JSON out. */
async function credentialHelper(name: string, host: string, env: NodeJS.ProcessEnv): Promise<RegistryAuth | undefined> {
  const program = `docker-credential-${name}`;
  const out = await new Promise<string | undefined>((resolve) => {
    const child = execFile(program, ['get'], { env, timeout: 30_000 }, (err, stdout) => resolve(err ? undefined : stdout));
    child.stdin?.end(host);
  });
  if (!out) return undefined; // the helper has nothing for this host ("credentials not found in native keychain")
  try {
    const creds = JSON.parse(out) as { Username?: string; Secret?: string };
    if (!creds.Username || !creds.Secret) return undefined;
    return { username: creds.Username, password: creds.Secret, serveraddress: host };
  } catch {
    return undefined;
  }
}
