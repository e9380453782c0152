import type Docker from 'dockerode';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RepriseError, ErrorKind } from '../errors.js';
import { BUILD_CA_FILE, environmentHash, imageTag, renderDockerfile } from '../project/environment.js';
import type { EnvironmentSpec } from '../project/schema.js';
import type { BuildTrust } from './build-trust.js';
import { isConnectionError, pingEngine, statusCode } from './engine.js';

export interface BuildProgress {
  step: number;
  totalSteps: number;
  line: string;
}

export interface BuildRequest {
  tag: string;
  dockerfile: string;
  base: string;
  envHash: string;
  /** The image label that carries envHash (the Dockerfile writes it); default org.reprise.environment. */
  label?: string;
  /** More files for the build context (name → content), for the Dockerfile to COPY. */
  files?: Record<string, string | Buffer>;
  /** What a failed build tells the user to do (unless TLS is the cause); default: fix environment.yaml. */
  failureHint?: string;
  /** CA bundle and proxies for steps that fetch packages (not part of the environment hash). */
  trust?: BuildTrust;
  onProgress?: (p: BuildProgress) => void;
  onOutput?: (line: string) => void;
}

export interface BuiltImage {
  digest: string;
  tag: string;
  reused: boolean;
}

export const ENV_LABEL = 'org.reprise.environment';

/** The build of a project's environment: its tag, Dockerfile and hash, from the spec alone. */
export function environmentBuild(projectName: string, spec: EnvironmentSpec): Pick<BuildRequest, 'tag' | 'dockerfile' | 'base' | 'envHash'> {
  const envHash = environmentHash(spec);
  return { tag: imageTag(projectName, envHash), dockerfile: renderDockerfile(spec), base: spec.base, envHash };
}

/**
 * Build (or reuse) the image for an environment on a Docker engine. An image whose label
 * carries the same environment hash is reused, so an unchanged environment is never rebuilt.
 */
export async function buildEnvironmentImage(docker: Docker, req: BuildRequest): Promise<BuiltImage> {
  await pingEngine(docker);
  const existing = await findEnvironmentImage(docker, req.tag, req.envHash, req.label);
  if (existing) return existing;

  await ensureBaseImage(docker, req.base);
  const context = await mkdtemp(join(tmpdir(), 'reprise-build-'));
  try {
    await writeFile(join(context, 'Dockerfile'), req.dockerfile);
    await writeFile(join(context, BUILD_CA_FILE), req.trust?.caBundle ?? '');
    const extra = Object.entries(req.files ?? {});
    for (const [name, content] of extra) {
      if (name.includes('/') || name === 'Dockerfile' || name === BUILD_CA_FILE) throw new Error(`build context file name "${name}" is not allowed`);
      await writeFile(join(context, name), content);
    }
    // Proxy variables are Docker's predefined build args: used by RUN, kept out of the image's history.
    const stream = await docker.buildImage(
      { context, src: ['Dockerfile', BUILD_CA_FILE, ...extra.map(([name]) => name)] },
      { t: req.tag, rm: true, forcerm: true, buildargs: req.trust?.proxy ?? {} },
    );
    const tail: string[] = [];
    let failure: string | undefined;
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (err) => (err ? reject(err) : resolve()),
        (event: { stream?: string; error?: string; status?: string }) => {
          if (event.error) failure = event.error.trim();
          for (const line of (event.stream ?? event.status ?? '').split('\n').filter((l) => l.trim())) {
            tail.push(line);
            if (tail.length > 40) tail.shift();
            req.onOutput?.(line);
            const step = /^Step (\d+)\/(\d+) : (.*)/.exec(line);
            if (step) req.onProgress?.({ step: Number(step[1]), totalSteps: Number(step[2]), line: step[3]! });
          }
        },
      );
    });
    if (failure) {
      const hint = tail.some((l) => /CERTIFICATE_VERIFY_FAILED|SSL: ?CERTIFICATE|certificate verify failed/i.test(l))
        ? 'a package index\'s TLS certificate is not trusted: set build.caFile in $REPRISE_HOME/config.yaml to the CA bundle your network uses'
        : (req.failureHint ?? 'fix .reprise/environment.yaml (see the step output above)');
      throw new RepriseError(ErrorKind.imageBuildFailed, `image build failed: ${failure.split('\n')[0]}; ${hint}`, {
        detail: tail.join('\n'),
      });
    }
  } catch (err) {
    if (err instanceof RepriseError) throw err;
    if (isConnectionError(err)) await pingEngine(docker);
    throw new RepriseError(ErrorKind.imageBuildFailed, `image build failed: ${(err as Error).message}`);
  } finally {
    await rm(context, { recursive: true, force: true });
  }
  const built = await inspectImage(docker, req.tag);
  if (!built) throw new RepriseError(ErrorKind.imageBuildFailed, `image build reported success but ${req.tag} is missing`);
  return { digest: built.Id, tag: req.tag, reused: false };
}

/** The image already built for this environment hash (in `label`), if the engine has it. */
export async function findEnvironmentImage(docker: Docker, tag: string, envHash: string, label = ENV_LABEL): Promise<BuiltImage | undefined> {
  const existing = await inspectImage(docker, tag);
  return existing?.Config?.Labels?.[label] === envHash ? { digest: existing.Id, tag, reused: true } : undefined;
}

/** The engine's view of an image, or undefined when it has none by that name or id. */
export async function inspectImage(docker: Docker, ref: string): Promise<Docker.ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(ref).inspect();
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw err;
  }
}

export async function imageExists(docker: Docker, ref: string): Promise<boolean> {
  return (await inspectImage(docker, ref)) !== undefined;
}

async function ensureBaseImage(docker: Docker, base: string): Promise<void> {
  if (await inspectImage(docker, base)) return;
  try {
    const stream = await docker.pull(base);
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve())));
  } catch (err) {
    throw new RepriseError(
      ErrorKind.baseImageUnavailable,
      `base image "${base}" is not present and could not be pulled (${((err as Error).message.split('\n')[0] ?? '').slice(0, 200)}); pull or build it, or set "base:" in .reprise/environment.yaml to an image you have`,
    );
  }
}
