import type { BatchScriptSpec } from './scheduler.js';
import { directive, resourceDirectives, runLines, withoutCarriageReturns } from './scheduler.js';
import { shellQuote } from '../../shell-quote.js';

/**
 * SLURM job arrays: many staged runs (a sweep's points) submitted with one sbatch. Element i of
 * the array runs exactly what run i's own batch script would, in run i's own directory, so an
 * element's handle (job id `<array job id>_<i>`) works like a single job's.
 *
 * The array directory `<workdir>/arrays/<array id>` holds:
 *   array.sh      the array script (one `case` branch per element)
 *   elements      the elements' run directories, one a line, in index order
 *   0, 1, …       symlinks to those run directories: `--output=<dir>/%a/job.log` lands in each
 *                 run's own job.log, SLURM's own lines (time limit, cancellation) included
 *   array_job_id  the array's job id, once submitted
 *   submit.lock   taken by submission and cleanup
 * Each element's run directory also gets `job_id` (`<id>_<i>`), so a single submit of that run
 * finds its element instead of making a second job.
 */
export interface ArrayElement {
  runDir: string;
  env: Record<string, string>;
  /** The container runtime's command line, already quoted for the shell. */
  command: string;
}

export interface ArrayScriptSpec extends Pick<BatchScriptSpec, 'resources' | 'partition' | 'account' | 'qos' | 'extraArgs' | 'gpuFlag'> {
  jobName: string;
  arrayDir: string;
  /** At most this many elements running at once (`--array=0-N%max`). */
  maxParallel?: number;
  elements: ArrayElement[];
}

export const arrayJobName = (arrayId: string) => `reprise-array-${arrayId}`;

/** `123_4`: element 4 of array job 123 (what squeue, scontrol, sacct and scancel take). */
export const isArrayElement = (jobId: string) => /^\d+_\d+$/.test(jobId);

/** The array script: shared resources as directives, then one branch per element. */
export function arrayScript(spec: ArrayScriptSpec): string {
  const n = spec.elements.length;
  if (n === 0) throw new Error('a job array needs at least one element');
  const max = spec.maxParallel;
  if (max !== undefined && !(Number.isInteger(max) && max >= 1)) throw new Error(`maxParallel ${max} is not a whole number of at least 1`);
  const d = directive;
  const lines = [
    '#!/bin/sh',
    d('job-name', spec.jobName),
    d('array', `0-${n - 1}${max !== undefined ? `%${max}` : ''}`),
    d('output', `${spec.arrayDir}/%a/job.log`),
    d('chdir', spec.arrayDir),
    ...resourceDirectives(spec),
    'case "$SLURM_ARRAY_TASK_ID" in',
  ];
  spec.elements.forEach((e, i) => {
    // As a single job starts in its run directory (--chdir), the element goes to its own.
    lines.push(`${i})`, `cd ${shellQuote(e.runDir)} || exit 1`, ...runLines(e), ';;');
  });
  lines.push('*)', 'echo "reprise: this job array has no element $SLURM_ARRAY_TASK_ID" >&2', 'exit 1', ';;', 'esac', '');
  return withoutCarriageReturns(lines.join('\n'));
}

/**
 * Submits the array once, under a lock: an array job id already written, or a job of this name
 * still known to squeue/sacct, is returned instead of a new submission; a repeat with other
 * elements is refused (exit 3). $1 = array dir, $2 = job name, $3 = the new array script and $4
 * the new elements list (uniquely named files in $1, consumed). Prints the array job id.
 */
export const ARRAY_SUBMIT_SCRIPT = `set -e
cd "$1"
trap 'rm -f "$3" "$4"' EXIT
exec 9>submit.lock
flock 9
if [ -f elements ] && [ "$(cat elements)" != "$(cat "$4")" ]; then
  echo "job array $2 was submitted already with other elements" >&2; exit 3
fi
id=
if [ -s array_job_id ]; then id=$(cat array_job_id); fi
if [ -z "$id" ]; then id=$(squeue -h -t all -u "$USER" -n "$2" -o %F 2>/dev/null | head -n 1); fi
if [ -z "$id" ]; then
  id=$(sacct -n -X -P -u "$USER" --name "$2" -S now-30days -o JobID 2>/dev/null | head -n 1 || true)
  id=\${id%%_*}
fi
if [ ! -f elements ]; then mv -f "$4" elements; fi
i=0
while IFS= read -r d; do ln -sfn "$d" "$i"; i=$((i+1)); done < elements
if [ -z "$id" ]; then
  while IFS= read -r d; do
    if [ ! -d "$d/project" ]; then echo "job array $2: $d was not staged" >&2; exit 4; fi
  done < elements
  mv -f "$3" array.sh
  id=$(sbatch --parsable array.sh); id=\${id%%;*}
fi
printf '%s\\n' "$id" > array_job_id.tmp
mv -f array_job_id.tmp array_job_id
i=0
while IFS= read -r d; do
  if [ -d "$d" ]; then printf '%s_%s\\n' "$id" "$i" > "$d/job_id.tmp" && mv -f "$d/job_id.tmp" "$d/job_id"; fi
  i=$((i+1))
done < elements
cat array_job_id
`;

/**
 * Removes the array directory once no element's run directory is left (the cleanup of the last
 * element), under the submission lock. $1 = array dir.
 */
export const ARRAY_CLEANUP_SCRIPT = `cd "$1" 2>/dev/null || exit 0
exec 9>>submit.lock
flock 9
[ -f elements ] || exit 0
while IFS= read -r d; do [ ! -e "$d" ] || exit 0; done < elements
cd / && rm -rf "$1"
`;

/** The mark ARRAY_CANCEL_SCRIPT leaves in the element's run directory. */
export const CANCELLED_MARK = 'cancelled';

/**
 * Cancels one element only (scancel 123_4), and leaves a mark in its run directory: an element
 * cancelled while still pending vanishes from squeue, scontrol and sacct alike (SLURM 22.05 just
 * drops its index from the pending array). $1 = element job id, $2 = run dir.
 */
export const ARRAY_CANCEL_SCRIPT = `scancel "$1" || exit
if [ -d "$2" ]; then : > "$2/${CANCELLED_MARK}"; fi
`;
