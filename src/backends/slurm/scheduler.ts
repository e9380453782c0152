import { formatDuration } from '../../config/resources.js';
import type { Resources } from '../../config/resources.js';
import type { JobStatus } from '../types.js';
import type { GpuFlag } from './config.js';
import { OOM_REASON, TIMEOUT_EXIT_CODE, timeLimitReason } from '../types.js';
import { shellQuote } from '../../shell-quote.js';

/**
 * SLURM as a scheduler: the batch script, the commands that submit, inspect and cancel a job,
 * and the parsers that turn their output into a JobStatus (Nextflow's grid-executor split).
 */
export interface BatchScriptSpec {
  jobName: string;
  runDir: string;
  resources: Resources;
  partition?: string;
  account?: string;
  qos?: string;
  extraArgs?: string[];
  /** How GPUs are asked for: `--gres=gpu[:TYPE]:N` (default) or `--gpus=[TYPE:]N`, as the site documents. */
  gpuFlag?: GpuFlag;
  env: Record<string, string>;
  /** The container runtime's command line, already quoted for the shell. */
  command: string;
}

export const jobName = (runId: string) => `reprise-${runId}`;

/** The GPU request as one #SBATCH line: `--gres=gpu:a100:2` or `--gpus=a100:2` (no type: any GPU). */
export function gpuDirective(r: Pick<Resources, 'gpus' | 'gpuType'>, flag: GpuFlag = 'gres'): string | undefined {
  if (!r.gpus) return undefined;
  const typed = r.gpuType ? `${r.gpuType}:${r.gpus}` : String(r.gpus);
  return flag === 'gpus' ? directive('gpus', typed) : directive('gres', `gpu:${typed}`);
}

/** #SBATCH lines take no shell quoting: refuse what would silently split or break them. */
function directiveValue(name: string, value: string): string {
  if (!/^[^\s"'\\]+$/.test(value)) throw new Error(`SLURM ${name} "${value}" may not contain spaces, quotes or backslashes`);
  return value;
}

export const directive = (name: string, value: string) => `#SBATCH --${name}=${directiveValue(name, value)}`;

/** The resources and placement of a job (or of every element of an array) as #SBATCH lines. */
export function resourceDirectives(spec: Pick<BatchScriptSpec, 'resources' | 'partition' | 'account' | 'qos' | 'extraArgs' | 'gpuFlag'>): string[] {
  const r = spec.resources;
  const d = directive;
  const lines: string[] = [];
  // SLURM limits are whole minutes: round up, never give the job less than it asked for.
  if (r.timeSeconds) lines.push(d('time', String(Math.ceil(r.timeSeconds / 60))));
  lines.push(d('ntasks', '1'));
  if (r.cpus) lines.push(d('cpus-per-task', String(Math.ceil(r.cpus))));
  if (r.memoryBytes) lines.push(d('mem', `${Math.ceil(r.memoryBytes / 2 ** 20)}M`));
  const gpus = gpuDirective(r, spec.gpuFlag);
  if (gpus) lines.push(gpus);
  if (spec.partition) lines.push(d('partition', spec.partition));
  if (spec.account) lines.push(d('account', spec.account));
  if (spec.qos) lines.push(d('qos', spec.qos));
  for (const arg of spec.extraArgs ?? []) lines.push(`#SBATCH ${directiveValue('argument', arg)}`);
  return lines;
}

/** The run itself: its environment, its command, then its exit status kept in `exit_code`. */
export function runLines(spec: Pick<BatchScriptSpec, 'runDir' | 'env' | 'command'>): string[] {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(spec.env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`invalid environment variable name "${key}"`);
    lines.push(`export ${key}=${shellQuote(value)}`);
  }
  const exitFile = shellQuote(`${spec.runDir}/exit_code`);
  lines.push(
    spec.command,
    'rc=$?',
    // Written atomically: a reader never sees an empty file.
    `echo "$rc" > ${shellQuote(`${spec.runDir}/exit_code.tmp`)} && mv -f ${shellQuote(`${spec.runDir}/exit_code.tmp`)} ${exitFile}`,
    'exit "$rc"',
  );
  return lines;
}

/**
 * sbatch refuses a script holding "\r\n" (it takes it for a DOS file), so a carriage return in
 * an argument or value is written as $(printf '\r'). Every CR here is inside a single-quoted
 * word (directive values refuse whitespace): close the quote, substitute, reopen.
 */
export const withoutCarriageReturns = (script: string) => script.replace(/\r/g, `'"$(printf '\\r')"'`);

/** The batch script: resources as directives, the run, then its exit status kept in `exit_code`. */
export function batchScript(spec: BatchScriptSpec): string {
  const d = directive;
  const lines = ['#!/bin/sh', d('job-name', spec.jobName), d('output', `${spec.runDir}/job.log`), d('chdir', spec.runDir)];
  lines.push(...resourceDirectives(spec), ...runLines(spec), '');
  return withoutCarriageReturns(lines.join('\n'));
}

/**
 * Submits once per run, under a lock: a job id already written, or a job of this name still known
 * to squeue/sacct, is returned instead of a new submission. $1 = run dir, $2 = job name.
 * Prints the job id.
 */
export const SUBMIT_SCRIPT = `set -e
cd "$1"
exec 9>submit.lock
flock 9
if [ -s job_id ]; then cat job_id; exit 0; fi
id=$(squeue -h -t all -u "$USER" -n "$2" -o %i 2>/dev/null | head -n 1)
if [ -z "$id" ]; then
  id=$(sacct -n -X -P -u "$USER" --name "$2" -S now-30days -o JobID 2>/dev/null | head -n 1 || true)
fi
if [ -z "$id" ]; then id=$(sbatch --parsable job.sh); id=\${id%%;*}; fi
printf '%s\\n' "$id" > job_id.tmp
mv -f job_id.tmp job_id
cat job_id
`;

/**
 * sbatch's own words when it refuses a request outright (it can never run as asked), as opposed
 * to a controller that is briefly unreachable: those are retried, these are the user's to fix.
 */
const REFUSALS = [
  /Requested node configuration is not available/i,
  /Memory specification can not be satisfied/i,
  /Invalid generic resource/i,
  /invalid partition/i,
  /Requested time limit is invalid/i,
  /More processors requested than permitted/i,
  /Node count specification invalid/i,
  /violates accounting\/QOS policy/i,
  /Invalid (account|qos)/i,
  /Invalid job array specification/i,
];

/** The refusal lines of sbatch's stderr when it refused the job for good, else undefined. */
export function sbatchRefusal(stderr: string): string | undefined {
  const lines = stderr.split(/\n| \| /).map((l) => l.replace(/^.*?sbatch: error: /, '').trim()).filter(Boolean);
  const refused = lines.filter((l) => REFUSALS.some((r) => r.test(l)));
  return refused.length ? [...new Set(refused)].join('; ') : undefined;
}

/**
 * The state of many jobs in one round trip, with one `squeue` for all of them, one `sacct` for
 * those squeue no longer lists, and `scontrol show job` only for jobs sacct does not know either
 * (a cluster without accounting). $1 = job ids, comma-separated; then pairs of job id and run
 * directory. Sections start with @name (per-job ones with the job id).
 */
export const BATCH_STATUS_SCRIPT = `ids=$1; shift
echo @tz; date +%z
q=$(squeue -h -r -j "$ids" -o '%i %T %r' 2>/dev/null)
echo @squeue; printf '%s\\n' "$q"
gone=
for id in $(printf '%s' "$ids" | tr , ' '); do
  printf '%s\\n' "$q" | grep -q "^$id " || gone="$gone\${gone:+,}$id"
done
if [ -n "$gone" ]; then
  a=$(sacct -X -n -P -o JobID,State,ExitCode,Start,End,AllocTRES -j "$gone" 2>/dev/null)
  echo @sacct; printf '%s\\n' "$a"
  for id in $(printf '%s' "$gone" | tr , ' '); do
    printf '%s\\n' "$a" | grep -q "^$id|" || { echo "@scontrol $id"; scontrol show job -o "$id" 2>/dev/null | grep JobState=; }
  done
fi
while [ $# -ge 2 ]; do echo "@exit_code $1"; cat "$2/exit_code" 2>/dev/null; shift 2; done
exit 0
`;

/** The batch status output, split into each job's sections (as jobStatusFrom reads them). */
export function splitBatchStatus(output: string, jobIds: readonly string[]): Map<string, StatusSections> {
  const shared: Record<string, string[]> = {};
  const perJob = new Map<string, Record<string, string[]>>(jobIds.map((id) => [id, {}]));
  let current: string[] | undefined;
  for (const line of output.split('\n')) {
    const m = /^@(tz|squeue|sacct|scontrol|exit_code)(?: (\S+))?$/.exec(line);
    if (m) {
      const [, name, id] = m;
      current = [];
      if (id) {
        const job = perJob.get(id);
        if (job) job[name!] = current;
        else current = undefined;
      } else {
        shared[name!] = current;
      }
    } else {
      current?.push(line);
    }
  }
  const text = (lines: string[] | undefined) => lines?.join('\n').trim();
  const sections = new Map<string, StatusSections>();
  for (const [id, own] of perJob) {
    const rows = (lines: string[] | undefined, sep: string) => lines?.filter((l) => l.split(sep)[0] === id);
    const squeue = rows(shared.squeue, ' ')?.map((l) => l.slice(id.length + 1));
    sections.set(id, {
      tz: text(shared.tz),
      squeue: text(squeue) ?? '',
      ...(own.scontrol ? { scontrol: text(own.scontrol) } : {}),
      ...(shared.sacct ? { sacct: text(rows(shared.sacct, '|')) } : {}),
      exit_code: text(own.exit_code) ?? '',
    });
  }
  return sections;
}

export type StatusSections = Partial<Record<'tz' | 'squeue' | 'scontrol' | 'sacct' | 'exit_code', string>>;

/** `key=value` fields of `scontrol show job -o` (values have no spaces except in a few we skip). */
export function parseScontrol(line: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const m of line.matchAll(/(?:^|\s)([A-Za-z:/]+)=(\S*)/g)) fields[m[1]!] ??= m[2]!;
  return fields;
}

/** SLURM prints local times without a zone; `date +%z` on the cluster supplies it. */
function isoTime(t: string | undefined, tz: string | undefined): string | undefined {
  if (!t || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(t)) return undefined;
  const zone = /^[+-]\d{4}$/.test(tz ?? '') ? `${tz!.slice(0, 3)}:${tz!.slice(3)}` : 'Z';
  const ms = Date.parse(`${t}${zone}`);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/**
 * squeue reasons that say a pending job will not start as submitted: it asks for more than the
 * partition, its QOS or its association allow per job, or constraints no node has. (Resources,
 * Priority, ReqNodeNotAvail and the like are waits.)
 */
const NEVER_STARTS = /^(PartitionConfig|PartitionTimeLimit|BadConstraints|InvalidAccount|InvalidQOS|\w*PerJob\w*)$/;

const PENDING_STATES = new Set(['PENDING', 'CONFIGURING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESV_DEL_HOLD', 'SUSPENDED']);

/** The job's status from the status script's output; `timeSeconds` is what the run asked for. */
export function jobStatusFrom(sections: StatusSections, jobId: string, timeSeconds: number | null): JobStatus {
  const [queued, ...why] = (sections.squeue?.split('\n')[0]?.trim() ?? '').split(' ');
  const pendingReason = why.join(' ').trim();
  let state: string | undefined;
  let exitField: string | undefined;
  let start: string | undefined;
  let end: string | undefined;
  let by = '';
  let timeLimit: string | undefined;
  let tres: string | undefined;
  if (sections.scontrol) {
    const f = parseScontrol(sections.scontrol);
    tres = f.TRES;
    state = f.JobState;
    exitField = f.ExitCode;
    start = f.StartTime;
    end = f.EndTime;
    timeLimit = f.TimeLimit;
  } else if (sections.sacct) {
    const row = sections.sacct.split('\n').find((l) => l.split('|')[0] === jobId) ?? sections.sacct.split('\n')[0]!;
    const [, st = '', ec, s, e, alloc] = row.split('|');
    tres = alloc;
    [state = '', by = ''] = [st.split(' ')[0], st.split(' ').slice(1).join(' ')];
    exitField = ec;
    start = s;
    end = e;
  }
  if (queued) state = queued; // squeue is the live view while the job is in the queue
  const tz = sections.tz;
  const startedAt = isoTime(start, tz);
  const finishedAt = isoTime(end, tz);
  const fileCode = /^\d+$/.test(sections.exit_code ?? '') ? Number(sections.exit_code) : undefined;

  if (!state) {
    if (fileCode !== undefined) return { phase: 'exited', exitCode: fileCode };
    return { phase: 'lost', reason: `SLURM job ${jobId} is unknown to squeue, scontrol and sacct` };
  }
  if (PENDING_STATES.has(state)) {
    if (!pendingReason || pendingReason === 'None') return { phase: 'pending' };
    return { phase: 'pending', reason: `${pendingReason} (squeue)`, ...(NEVER_STARTS.test(pendingReason) ? { never: true } : {}) };
  }
  // COMPLETING: the script ended, SLURM is still tidying up; wait for the final state.
  if (state === 'RUNNING' || state === 'COMPLETING' || state === 'STAGE_OUT' || state === 'SIGNALING' || state === 'STOPPED') return { phase: 'running', startedAt };
  const slurmCode = exitField && /^\d+:\d+$/.test(exitField) ? Number(exitField.split(':')[0]) : undefined;
  const granted = grantedTres(tres);
  const done = { phase: 'exited' as const, startedAt, finishedAt, ...(granted ? { granted } : {}) };
  switch (state) {
    case 'COMPLETED':
    case 'FAILED':
      return { ...done, exitCode: fileCode ?? slurmCode ?? 1 };
    case 'TIMEOUT': {
      const limit = timeSeconds ? formatDuration(timeSeconds) : (timeLimit ?? 'unknown');
      return { ...done, exitCode: TIMEOUT_EXIT_CODE, reason: timeLimitReason(limit) };
    }
    case 'CANCELLED':
      return { ...done, exitCode: fileCode ?? 130, reason: `cancelled${by ? ` ${by}` : ''} (SLURM job ${jobId})` };
    case 'OUT_OF_MEMORY':
      return { ...done, exitCode: fileCode ?? 137, reason: OOM_REASON };
    default: // NODE_FAIL, BOOT_FAIL, PREEMPTED, DEADLINE, REVOKED
      return { ...done, exitCode: fileCode ?? 1, reason: `SLURM job ${jobId} ended ${state}` };
  }
}

/** SLURM's TRES list ("cpu=1,mem=1G,gres/gpu:a100=1") as a map; undefined when empty. */
export function grantedTres(text: string | undefined): Record<string, string> | undefined {
  const pairs = (text ?? '')
    .split(',')
    .map((p) => /^([A-Za-z][\w/:.-]*)=(\S+)$/.exec(p.trim()))
    .filter((m): m is RegExpExecArray => m !== null);
  return pairs.length ? Object.fromEntries(pairs.map((m) => [m[1]!, m[2]!])) : undefined;
}

/** scancel's answer for a job that already ended or was purged: nothing to do. */
export const isGoneJobError = (stderr: string) => /invalid job id|already completed|job has finished/i.test(stderr);
