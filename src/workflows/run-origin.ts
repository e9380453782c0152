/**
 * A run's modes, decided once. `RunInput` keeps the optional fields its histories carry (workflows
 * in flight replay with them); this turns them into where the run's source comes from, where its
 * image comes from and what the run is, or names the one field that makes the combination
 * invalid. Pure and deterministic: the workflows, the activities' input checks and the
 * activities all import it.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { LabOptions, PreparedImage, PreparedSources, RunInput, SweepPointRef, TeamRun } from '../activities/types.js';
import type { JobHandle } from '../backends/types.js';
import { ErrorKind } from '../errors.js';

/** Where the source commit the run executes comes from. */
export type SourceOrigin =
  /** The local project's working tree, pending edits swept into a commit now (a new run, a lab, a sweep before its points). */
  | { kind: 'snapshot'; projectRoot: string }
  /** A rerun: the commit its original executed, in the local project. */
  | { kind: 'recorded'; projectRoot: string; commit: string; runId: string }
  /** Team mode: the commit the client published on the remote (a team rerun's is its original's). */
  | { kind: 'remote'; team: TeamRun }
  /** A sweep's point: the sweep fixed the sources once for all its points. */
  | { kind: 'prepared'; projectRoot: string; sources: PreparedSources };

/** Where the run's image comes from. */
export type ImageOrigin =
  /** Found on the local engine or built for the source commit's environment, pushed when the user has a registry. */
  | { kind: 'build' }
  /** A local rerun: the image its original recorded, never rebuilt (stage pulls it by digest if need be). */
  | { kind: 'recorded'; digest: string; reference?: string }
  /** Made before the run started: by a team run's client, or by a sweep for its points. */
  | { kind: 'given'; image: PreparedImage };

type Source<K extends SourceOrigin['kind']> = Extract<SourceOrigin, { kind: K }>;
type Image<K extends ImageOrigin['kind']> = Extract<ImageOrigin, { kind: K }>;

/** What the run is (`role`), with the sources and image each role can have. */
export type RunOrigin =
  | {
      role: 'run';
      source: Source<'snapshot' | 'recorded' | 'remote'>;
      image: ImageOrigin;
      /** A rerun (local or team): the run it executes again, named in its record. */
      rerunOf?: string;
    }
  /** A sweep's point, placed like any run (`placementStart`, read where a run is placed, spreads the points over a pool). */
  | { role: 'point'; sweep: SweepPointRef; source: Source<'prepared'>; image: Image<'given'> }
  /** An element of its sweep's job array, submitted by the sweep: the run only awaits, collects and records it. */
  | { role: 'element'; sweep: SweepPointRef; handle: JobHandle; source: Source<'prepared'>; image: Image<'given'> }
  /** A lab session (workflows/lab.ts): a snapshot in an image found or built for it. */
  | { role: 'lab'; lab: LabOptions; source: Source<'snapshot'>; image: Image<'build'> };

/** An invalid combination: the field (under `input`) that makes it so, and why. */
export interface RunInputConflict {
  field: string;
  why: string;
}

/** The input's modes as unions, or the conflict that makes the combination invalid. */
export function resolveRunInput(input: RunInput): { origin: RunOrigin } | { conflict: RunInputConflict } {
  const refuse = (field: string, why: string) => ({ conflict: { field, why } });
  const { rerun, team, sweep, prepared, placementStart, attached, lab } = input;

  if (lab) {
    const others = { rerun, team, sweep, prepared, placementStart, attached, reuse: input.reuse || undefined };
    const other = Object.entries(others).find(([, v]) => v !== undefined)?.[0];
    if (other) return refuse(other, 'is refused in a lab session: a lab runs a snapshot of a local project in an image built for it');
    return { origin: { role: 'lab', lab, source: { kind: 'snapshot', projectRoot: input.projectRoot }, image: { kind: 'build' } } };
  }

  if (sweep || prepared || attached) {
    if (!sweep) return refuse(prepared ? 'prepared' : 'attached', "needs sweep: only a sweep's points run on prepared sources or are attached to an array's element");
    if (!prepared) return refuse('sweep', "needs prepared: a sweep fixes its points' sources and image");
    if (rerun) return refuse('rerun', "is refused in a sweep's point: a rerun executes its own recorded source and image");
    if (team) return refuse('team', 'is refused in a sweep\'s point: sweeps do not run in team mode');
    const fixed = { sweep, source: { kind: 'prepared', projectRoot: input.projectRoot, sources: prepared.sources }, image: { kind: 'given', image: prepared.image } } as const;
    return { origin: attached ? { role: 'element', handle: attached.handle, ...fixed } : { role: 'point', ...fixed } };
  }

  if (rerun && input.reuse) return refuse('reuse', 'is refused in a rerun: a rerun executes again, never reuses');
  const rerunOf = rerun ? { rerunOf: rerun.runId } : {};
  if (team) {
    // The client published the original's commit and image for a team rerun.
    if (rerun && team.sourceCommit !== rerun.sourceCommit) return refuse('team.sourceCommit', `must be the rerun's recorded commit ${rerun.sourceCommit}`);
    if (rerun && team.image.digest !== rerun.imageDigest) return refuse('team.image.digest', `must be the rerun's recorded image ${rerun.imageDigest}`);
    return { origin: { role: 'run', source: { kind: 'remote', team }, image: { kind: 'given', image: team.image }, ...rerunOf } };
  }
  if (rerun) {
    return {
      origin: {
        role: 'run',
        source: { kind: 'recorded', projectRoot: input.projectRoot, commit: rerun.sourceCommit, runId: rerun.runId },
        image: { kind: 'recorded', digest: rerun.imageDigest, ...(rerun.imageReference ? { reference: rerun.imageReference } : {}) },
        ...rerunOf,
      },
    };
  }
  return { origin: { role: 'run', source: { kind: 'snapshot', projectRoot: input.projectRoot }, image: { kind: 'build' } } };
}

/** The input's modes; an invalid combination is a final BadInput failure naming the field (as validate.ts refuses inputs). */
export function runOrigin(input: RunInput): RunOrigin {
  const resolved = resolveRunInput(input);
  if ('origin' in resolved) return resolved.origin;
  const { field, why } = resolved.conflict;
  throw ApplicationFailure.create({ message: `refused workflow input: input.${field} ${why}`, type: ErrorKind.badInput, nonRetryable: true });
}

/** A team run's remote and published commit; absent for a run of a local project. */
export function teamOf(origin: RunOrigin): TeamRun | undefined {
  return origin.source.kind === 'remote' ? origin.source.team : undefined;
}

/** The run a rerun (local or team) executes again. */
export function rerunOf(origin: RunOrigin): string | undefined {
  return origin.role === 'run' ? origin.rerunOf : undefined;
}

/** The sweep a point or an array element belongs to. */
export function sweepOf(origin: RunOrigin): SweepPointRef | undefined {
  return origin.role === 'point' || origin.role === 'element' ? origin.sweep : undefined;
}

/** For exhaustive switches: a case the unions do not have. */
export function unreachable(value: never): never {
  throw new Error(`unhandled run origin: ${JSON.stringify(value)}`);
}
