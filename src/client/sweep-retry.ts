import type { SweepInput, SweepPointResult } from '../activities/types.js';
import type { RepriseEnv } from '../config/env.js';
import { loadUserConfig, resolveBackend } from '../backends/user-config.js';
import { badInput } from '../errors.js';
import { currentBranch } from '../project/history.js';
import type { Project } from '../project/layout.js';
import type { SweepRecord } from '../project/sweep-record.js';
import { isSuccess } from '../project/run-record.js';
import { newWorkflowId } from './ids.js';
import { expandGrid } from './sweep-grid.js';

/** Sweeps run on the local agent only (team workers do not take them yet). */
export function assertLocalSweeps(env: RepriseEnv): void {
  if (env.team) throw badInput('sweeps run on the local agent only for now; unset REPRISE_TEAM to sweep, or launch the points with reprise run');
}

/**
 * `sweep retry`: a new sweep of the recorded sweep's points that did not succeed, with its
 * recorded source commit and image; the points that succeeded are carried over as they were.
 * Undefined when every point succeeded (nothing to retry). An unknown backend is exit 2.
 */
export async function sweepRetryInput(env: RepriseEnv, project: Project, record: SweepRecord, options: { backend?: string; maxParallel?: number } = {}): Promise<SweepInput | undefined> {
  assertLocalSweeps(env);
  const again = new Set(record.points.filter((p) => !isSuccess(p.state)).map((p) => p.index));
  if (again.size === 0) return undefined;
  const backend = options.backend ?? record.backend;
  if (!env.team) resolveBackend(await loadUserConfig(env.home), backend);
  const kept: SweepPointResult[] = record.points
    .filter((p) => !again.has(p.index))
    .map((p) => ({ index: p.index, params: p.params, runId: p.runId, state: p.state, exitCode: p.exitCode, backend: p.backend, commit: p.commit }));
  return {
    sweepId: newWorkflowId('sweep'),
    projectRoot: project.root,
    projectId: project.spec.id,
    backend,
    template: record.template,
    params: record.params,
    workdir: record.workdir,
    resources: record.resources ?? {},
    points: expandGrid(record.template, record.params).filter((p) => again.has(p.index)),
    maxParallel: options.maxParallel,
    retry: {
      of: record.sweepId,
      kept,
      sources: { sourceCommit: record.sourceCommit, swept: false, branch: await currentBranch(project.root) },
      image: { digest: record.image.digest, reference: record.image.reference, environment: record.environment, reused: true },
    },
  };
}
