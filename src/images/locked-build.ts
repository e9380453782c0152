import type Docker from 'dockerode';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RepriseError, badInput, notFound } from '../errors.js';
import { environmentHash, imageTag, renderDockerfile } from '../project/environment.js';
import { Git } from '../project/git.js';
import { findRun, readRunRecord } from '../project/history.js';
import type { EnvironmentSpec } from '../project/schema.js';
import { buildEnvironmentImage, environmentBuild, type BuildRequest, type BuiltImage } from './build.js';
import { buildTrustNotes, type BuildTrust } from './build-trust.js';
import { imageLock } from './lock-capture.js';
import { LOCK_FILE, lockPins, parseLock, specHash, unavailablePin, type EnvironmentLock } from './lock.js';

type PlannedBuild = Pick<BuildRequest, 'tag' | 'dockerfile' | 'base' | 'envHash'> & { locked: boolean };

/**
 * The build of a spec, pinned to a lock when `lockText` is given: the pins enter the
 * Dockerfile and the environment hash, so a locked image has its own tag and label and never
 * replaces the unlocked image of the same spec.
 */
export function plannedBuild(projectName: string, spec: EnvironmentSpec, lockText?: string): PlannedBuild {
  if (lockText === undefined) return { ...environmentBuild(projectName, spec), locked: false };
  const pins = lockPins(spec, parseLock(lockText));
  const envHash = environmentHash(spec, pins);
  return { tag: imageTag(projectName, envHash), dockerfile: renderDockerfile(spec, pins), base: pins.from, envHash, locked: true };
}

/** The build a run of `commit` uses: locked (with that commit's lock) when its spec says `locked: true`. */
export async function plannedBuildAt(root: string, commit: string, projectName: string, spec: EnvironmentSpec): Promise<PlannedBuild> {
  if (!spec.locked) return plannedBuild(projectName, spec);
  const lockText = await new Git(root).tryRun(['show', `${commit}:${LOCK_FILE}`]);
  if (lockText === undefined) {
    throw badInput(`.reprise/environment.yaml says locked: true but commit ${commit.slice(0, 12)} has no ${LOCK_FILE}; remove locked: true, build or run once to capture the lock, commit it, then set it again`);
  }
  return plannedBuild(projectName, spec, lockText);
}

/** Build (or reuse) the image; a locked build that cannot get a pinned version says which, in one line. */
export async function buildPlanned(docker: Docker, request: BuildRequest & { locked: boolean }): Promise<BuiltImage> {
  try {
    return await buildEnvironmentImage(docker, request);
  } catch (err) {
    const pin = request.locked && err instanceof RepriseError ? unavailablePin(err.detail ?? '') : undefined;
    if (pin) throw badInput(`${pin} pinned in ${LOCK_FILE} can no longer be installed; build without --locked to take current versions, then commit the new lock`, (err as RepriseError).detail);
    throw err;
  }
}

export interface ProjectBuild {
  request: PlannedBuild;
  built: BuiltImage;
  /** The lock of the built (or reused) image, as written to the project. */
  lock: string;
  /** How long capturing the lock took (0 when the per-image cache had it). */
  captureMs: number;
}

/**
 * `reprise env build [--locked]`: build the project's environment (locked with the lock in
 * the working tree when asked or when the spec says `locked: true`), then write the image's
 * lock to .reprise/environment.lock.
 */
export async function buildProjectEnvironment(
  docker: Docker,
  options: { home: string; root: string; projectName: string; spec: EnvironmentSpec; locked: boolean; trust: BuildTrust; onProgress?: BuildRequest['onProgress'] },
): Promise<ProjectBuild> {
  const { spec, root } = options;
  let lockText: string | undefined;
  if (options.locked || spec.locked) {
    lockText = await readFile(join(root, LOCK_FILE), 'utf8').catch(() => undefined);
    if (lockText === undefined) throw badInput(`no ${LOCK_FILE} in this project to build from; build once without --locked (it writes the lock), commit it, then build with --locked`);
  }
  const request = plannedBuild(options.projectName, spec, lockText);
  const built = await buildPlanned(docker, { ...request, trust: options.trust, onProgress: options.onProgress });
  const started = performance.now();
  const lock = await imageLock(docker, options.home, built.digest, { base: spec.base, environment: specHash(spec), buildNotes: buildTrustNotes(options.trust) });
  const captureMs = Math.round(performance.now() - started);
  await writeFile(join(root, LOCK_FILE), lock);
  return { request, built, lock, captureMs };
}

export const lockDigest = (text: string) => createHash('sha256').update(text).digest('hex');

/** The lock a recorded run committed with its record, as text; none for runs recorded before locks existed. */
export async function recordedLockText(root: string, idOrPrefix: string): Promise<{ runId: string; path?: string; text?: string }> {
  const entry = await findRun(root, idOrPrefix);
  const record = await readRunRecord(root, entry);
  if (!record.environmentLock) return { runId: entry.runId };
  const { path, sha256 } = record.environmentLock;
  const text = await new Git(root).tryRun(['show', `${entry.commit}:${path}`]);
  if (text === undefined || lockDigest(text) !== sha256) {
    throw notFound(`the environment lock of run ${entry.runId} is missing or altered in its record commit ${entry.commit.slice(0, 12)}`);
  }
  return { runId: entry.runId, path, text };
}

/** The parsed lock of a recorded run (`reprise env diff`); a run recorded before locks existed is an error. */
export async function recordedLock(root: string, idOrPrefix: string): Promise<{ runId: string; lock: EnvironmentLock }> {
  const { runId, path, text } = await recordedLockText(root, idOrPrefix);
  if (text === undefined) {
    throw notFound(`run ${runId} has no environment lock (it was recorded before Reprise captured locks); rerun it to record one: reprise rerun ${runId}`);
  }
  return { runId, lock: parseLock(text, `${path} of run ${runId}`) };
}
