import { trackedNotice, trackForRun } from '../data/run-data.js';
import { autoTrackBytes } from '../data/settings.js';
import { currentBranch, snapshotSources } from '../project/history.js';
import { assertWorkdirIn, checkWorkdir } from '../project/workdir.js';
import type { PreparedSources, RunInput } from './types.js';
import { rerunOf, runOrigin, unreachable } from '../workflows/run-origin.js';
import { guard } from './guard.js';
import type { RunContext } from './context.js';

/** Fixing what a run executes: the backend checked, the source commit snapshotted (large inputs tracked first). */
export function createPrepareActivities(shared: RunContext) {
  const { log, published, backendFor, project } = shared;

  /** The run's snapshot, large new inputs and changed tracked data made pointers first (the record lists them by digest). */
  async function snapshotWithData(input: RunInput): Promise<PreparedSources> {
    const { spec } = await project(input.projectRoot);
    const data = await trackForRun(input.projectRoot, autoTrackBytes(spec));
    for (const t of data.tracked) log(input).info({ path: t.path, md5: t.md5, size: t.size }, trackedNotice(t));
    return snapshotSources(input.projectRoot, input.runId, data.untrack);
  }

  return {
    /** Fail fast when the backend is unusable, then fix the source commit the run executes. */
    async prepare(input: RunInput): Promise<PreparedSources> {
      return guard(async () => {
        const origin = runOrigin(input);
        // A run that may be reused checks its backend only once it knows it will execute (checkBackend).
        if (!input.reuse) await (await backendFor(input.backend)).backend.check();
        const { source } = origin;
        // A sweep's point: the sweep fixed the source commit for all its points.
        if (source.kind === 'prepared') return source.sources;
        const workdir = checkWorkdir(input.workdir ?? '');
        let sources: PreparedSources;
        switch (source.kind) {
          case 'remote': {
            // The client published the source commit on the remote: fetch it (a remote this worker
            // cannot reach fails the run now, before anything is submitted).
            const project = published(source.team);
            await project.fetch();
            const { sourceCommit, branch, remote } = source.team;
            await assertWorkdirIn(await project.withCommit(sourceCommit), sourceCommit, workdir);
            log(input).info({ sourceCommit, remote, branch }, 'team run prepared');
            return { sourceCommit, swept: false, branch };
          }
          case 'recorded':
            sources = { sourceCommit: source.commit, swept: false, branch: await currentBranch(source.projectRoot) };
            break;
          case 'snapshot':
            sources = await snapshotWithData(input);
            break;
          default:
            return unreachable(source);
        }
        await assertWorkdirIn(input.projectRoot, sources.sourceCommit, workdir);
        log(input).info({ sourceCommit: sources.sourceCommit, swept: sources.swept, rerunOf: rerunOf(origin) }, 'run prepared');
        return sources;
      });
    },

    /** Fail fast when the backend is unusable: a run that looked for a reusable run and found none checks here. */
    async checkBackend(input: RunInput): Promise<void> {
      return guard(async () => void (await (await backendFor(input.backend)).backend.check()));
    },
  };
}
