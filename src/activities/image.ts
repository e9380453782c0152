import { Context } from '@temporalio/activity';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findEnvironmentImage } from '../images/build.js';
import { buildTrustNotes, resolveBuildTrust } from '../images/build-trust.js';
import { specHash } from '../images/lock.js';
import { imageLock } from '../images/lock-capture.js';
import { buildPlanned, plannedBuildAt } from '../images/locked-build.js';
import { pingEngine } from '../images/engine.js';
import { pushImage } from '../images/registry.js';
import { specsAt } from '../project/environment-at.js';
import type { PreparedImage, RunInput } from './types.js';
import { BUILD_LOG } from '../config/env.js';
import { badInput } from '../errors.js';
import { runOrigin } from '../workflows/run-origin.js';
import { guard, withHeartbeat } from './guard.js';
import type { RunContext } from './context.js';

/** The run's image: found, built, pushed when the user has a registry, or the recorded one for a rerun. */
export function createImageActivities(shared: RunContext) {
  const { deps, runDir, log, transferLog, withPushFlag, userConfig } = shared;

  return {
    /** The image of the source commit's environment if it is built already (fast path, no build). */
    async findImage(input: RunInput, sourceCommit: string): Promise<PreparedImage | null> {
      return guard(async () => {
        const { project, environment } = await specsAt(input.projectRoot, sourceCommit);
        const { tag, envHash: hash } = await plannedBuildAt(input.projectRoot, sourceCommit, project.name, environment);
        // Images are built on the local engine, whatever the backend. No ping first (this is the
        // warm path of every run): only a failed lookup asks the engine why, for a clear error.
        const found = await findEnvironmentImage(deps.docker, tag, hash).catch(async (err: unknown) => {
          await pingEngine(deps.docker);
          throw err;
        });
        if (!found) return null;
        log(input).info({ image: found.tag, digest: found.digest }, 'image reused');
        return withPushFlag({ digest: found.digest, tag: found.tag, environment: hash, reused: true });
      });
    },

    /** Build (or reuse) the image for the environment recorded in the source commit. */
    async buildImage(input: RunInput, sourceCommit: string): Promise<PreparedImage> {
      return guard(async () => {
        const { project, environment } = await specsAt(input.projectRoot, sourceCommit);
        const request = await plannedBuildAt(input.projectRoot, sourceCommit, project.name, environment);
        const trust = await resolveBuildTrust((await userConfig()).build);
        const dir = runDir(input.runId);
        await mkdir(dir, { recursive: true });
        const buildLog = join(dir, BUILD_LOG);
        await writeFile(buildLog, '');
        const ctx = Context.current();
        return withHeartbeat(async () => {
          const built = await buildPlanned(deps.docker, {
            ...request,
            trust,
            onOutput: (line) => void appendFile(buildLog, line + '\n').catch(() => undefined),
            onProgress: (p) => ctx.heartbeat(p),
          });
          log(input).info({ image: built.tag, digest: built.digest, reused: built.reused }, built.reused ? 'image reused' : 'image built');
          // Captured now, while the build's CA and proxy notes are known; record reads it from the cache
          // (and captures again if this failed: a lock is never a reason to fail the run).
          if (!built.reused) {
            await imageLock(deps.docker, deps.home, built.digest, { base: environment.base, environment: specHash(environment), buildNotes: buildTrustNotes(trust) }).catch((err: unknown) =>
              log(input).warn({ err: String(err) }, 'environment lock not captured after the build'),
            );
          }
          return withPushFlag({ digest: built.digest, tag: built.tag, environment: request.envHash, reused: built.reused });
        });
      });
    },

    /**
     * With a registry in the user config, push the image and pin it by manifest digest, so any
     * machine can pull exactly it (a push of what the registry has only checks the layers).
     */
    async publishImage(input: RunInput, image: PreparedImage): Promise<PreparedImage> {
      return guard(async () => {
        const rest = { ...image };
        delete rest.unpublished;
        const registry = (await userConfig()).registry?.url;
        if (!registry) return rest;
        const onTransfer = await transferLog(input.runId);
        const reference = await withHeartbeat(() => pushImage(deps.docker, registry, rest, onTransfer));
        log(input).info({ reference }, 'image pushed');
        return { ...rest, reference };
      });
    },

    /**
     * For reruns: the recorded image, never rebuilt. Where the job runs, the backend's stage
     * finds it locally or pulls it by its recorded registry digest (images/local.ts).
     */
    async resolveRecordedImage(input: RunInput): Promise<PreparedImage> {
      return guard(async () => {
        const { source, image } = runOrigin(input);
        if (source.kind !== 'recorded' || image.kind !== 'recorded') throw badInput(`run ${input.runId} is no rerun of a local project: it has no recorded image to resolve`);
        const { project, environment } = await specsAt(source.projectRoot, source.commit);
        const { envHash } = await plannedBuildAt(source.projectRoot, source.commit, project.name, environment);
        return { digest: image.digest, reference: image.reference, environment: envHash, reused: true };
      });
    },
  };
}
