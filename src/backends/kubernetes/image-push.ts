import type Docker from 'dockerode';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { backendUnavailable, notFound } from '../../errors.js';
import { pingEngine, statusCode } from '../docker/engine.js';
import type { ImageRef } from '../types.js';

/** `<registry>/<project>:<digest hex 12>`: one name per project, one tag per image. */
export function registryReference(registry: string, image: ImageRef): { repository: string; tag: string } {
  const hex = image.digest.replace(/^sha256:/, '');
  const repoPart = (image.tag ?? 'reprise/run').replace(/:[^/:]*$/, '');
  const project = (repoPart.split('/').pop() ?? 'run').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[._-]+/, '') || 'run';
  return { repository: `${registry.replace(/\/+$/, '')}/${project}`, tag: hex.slice(0, 12) };
}

interface PushEvent {
  error?: string;
  aux?: { Digest?: string };
}

/**
 * Tag the local image for the registry and push it (a push of layers the registry already has
 * only checks them). Returns the pushed reference pinned by its registry digest when the engine
 * reports one, so the pod runs exactly this image.
 */
export async function pushImage(docker: Docker, registry: string, image: ImageRef): Promise<string> {
  await pingEngine(docker);
  const { repository, tag } = registryReference(registry, image);
  try {
    await docker.getImage(image.digest).tag({ repo: repository, tag });
  } catch (err) {
    if (statusCode(err) === 404) throw notFound(`image ${image.digest} is not in the local Docker engine; rebuild it with: reprise env build`);
    throw err;
  }
  const authconfig = await dockerAuth(repository.split('/')[0]!);
  const stream = await docker.getImage(repository).push({ tag, ...(authconfig ? { authconfig } : {}) });
  let failure: string | undefined;
  let digest: string | undefined;
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(
      stream,
      (err) => (err ? reject(err) : resolve()),
      (event: PushEvent) => {
        if (event.error) failure = event.error.trim();
        if (event.aux?.Digest) digest = event.aux.Digest;
      },
    ),
  );
  if (failure) throw backendUnavailable(`pushing ${repository}:${tag} failed: ${failure.split('\n')[0]}; check "registry" in the backend configuration and docker login`);
  return digest ? `${repository}@${digest}` : `${repository}:${tag}`;
}

/** Credentials for a registry from the user's Docker config (docker login), when it has any. */
async function dockerAuth(host: string): Promise<{ username: string; password: string; serveraddress: string } | undefined> {
  const dir = process.env.DOCKER_CONFIG ?? join(homedir(), '.docker');
  let config: { auths?: Record<string, { auth?: string }> };
  try {
    config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as typeof config;
  } catch {
    return undefined;
  }
  const entry = config.auths?.[host] ?? config.auths?.[`https://${host}`];
  if (!entry?.auth) return undefined;
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), serveraddress: host };
}
