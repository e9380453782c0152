import { Context } from '@temporalio/activity';
import type Docker from 'dockerode';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backend, JobHandle } from '../backends/types.js';
import { resolveBuildTrust } from '../images/build-trust.js';
import type { UserConfig } from '../backends/user-config.js';
import { buildLabImage } from '../lab/image.js';
import type { Logger } from '../logger.js';
import { specsAt } from '../project/environment-at.js';
import { LAB_PATHS, LAB_STATE_DIR, recordLabCheckpoint } from '../project/lab-history.js';
import { labAppOf, type LabState } from '../project/lab-record.js';
import { BUILD_LOG } from '../config/env.js';
import type { LabCheckpointOutcome, PreparedImage, PreparedSources, RunInput } from './types.js';

export interface LabActivityContext {
  home: string;
  docker: Docker;
  logger: Logger;
  runDir: (runId: string) => string;
  userConfig: () => Promise<UserConfig>;
  backendFor: (name: string) => Promise<{ backend: Backend; kind: string }>;
  guard: <T>(fn: () => Promise<T>, options?: { transient?: boolean }) => Promise<T>;
  withHeartbeat: <T>(fn: () => Promise<T>, details?: () => unknown) => Promise<T>;
}

export interface CheckpointRequest {
  input: RunInput;
  handle: JobHandle;
  sources: PreparedSources;
  image: PreparedImage;
  labImage: PreparedImage;
  /** The number this checkpoint gets if it commits. */
  checkpoint: number;
  startedAt: string;
  /** The session's last checkpoint: always committed, with how the session ended. */
  final?: { state: LabState; reason?: string };
}

/** The activities of a lab session (workflows/lab.ts); the run's own activities do the rest. */
export function createLabActivities(ctx: LabActivityContext) {
  return {
    /** The project's image plus the lab's app (JupyterLab and the capture extension, VS Code, …): a separate image, built once per project image and app. */
    async buildLabImage(input: RunInput, image: PreparedImage): Promise<PreparedImage> {
      return ctx.guard(async () => {
        const trust = await resolveBuildTrust((await ctx.userConfig()).build);
        const dir = ctx.runDir(input.runId);
        await mkdir(dir, { recursive: true });
        const buildLog = join(dir, BUILD_LOG);
        const heartbeat = Context.current();
        const built = await ctx.withHeartbeat(() =>
          buildLabImage(ctx.docker, { digest: image.digest, tag: image.tag, reference: image.reference }, {
            app: input.lab?.app,
            trust,
            onOutput: (line) => void appendFile(buildLog, line + '\n').catch(() => undefined),
            onProgress: (p) => heartbeat.heartbeat(p),
          }),
        );
        ctx.logger.info({ labId: input.runId, labImage: built.tag, digest: built.digest }, 'lab image ready');
        return { digest: built.digest, tag: built.tag, environment: image.environment, reused: false };
      });
    },

    /**
     * Bring the lab's code/, output/ and execution log back and commit what is new since the
     * last checkpoint (nothing when nothing is, unless final). Repeating a checkpoint number that
     * was committed returns that commit.
     */
    async labCheckpoint(r: CheckpointRequest): Promise<LabCheckpointOutcome> {
      return ctx.guard(async () => {
        const { backend, kind } = await ctx.backendFor(r.input.backend);
        const root = r.input.projectRoot;
        const dir = ctx.runDir(r.input.runId);
        await mkdir(dir, { recursive: true });
        const collectedDir = await mkdtemp(join(dir, 'checkpoint-'));
        try {
          const collected = await ctx.withHeartbeat(() => backend.collect(r.handle, collectedDir, { paths: [...LAB_PATHS, LAB_STATE_DIR], final: Boolean(r.final) }));
          const { project } = await specsAt(root, r.sources.sourceCommit);
          const result = await recordLabCheckpoint(root, {
            record: {
              version: 1,
              kind: 'lab',
              labId: r.input.runId,
              project: { name: project.name, id: project.id },
              backend: { name: r.input.backend, kind, jobId: r.handle.jobId },
              sourceCommit: r.sources.sourceCommit,
              image: { digest: r.image.digest, tag: r.image.tag, reference: r.image.reference },
              labImage: { digest: r.labImage.digest, tag: r.labImage.tag },
              app: labAppOf({ app: r.input.lab?.app }),
              environment: r.image.environment,
              checkpoint: r.checkpoint,
              state: r.final?.state ?? 'running',
              ...(r.final?.reason ? { reason: r.final.reason } : {}),
              startedAt: r.startedAt,
              at: new Date().toISOString(),
              ...(collected.skipped.length ? { skippedOutputs: collected.skipped } : {}),
            },
            collectedDir,
            skipped: collected.skipped.map((s) => s.path),
            complete: !collected.incomplete,
            branch: r.sources.branch,
            always: Boolean(r.final),
          });
          if (result.commit) {
            ctx.logger.info({ labId: r.input.runId, checkpoint: result.checkpoint, commit: result.commit, executions: result.executions, files: result.files.length }, 'lab checkpoint recorded');
          }
          if (result.notWritten.length) await writeFile(join(dir, 'not-written.json'), JSON.stringify(result.notWritten));
          return { checkpoint: result.checkpoint, commit: result.commit, executions: result.executions, files: result.files.length, notWritten: result.notWritten };
        } finally {
          await rm(collectedDir, { recursive: true, force: true });
        }
      }, { transient: true });
    },
  };
}
