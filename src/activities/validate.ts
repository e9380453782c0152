import { ApplicationFailure } from '@temporalio/common';
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { z } from 'zod';
import { jobName as kubernetesJobName } from '../backends/kubernetes/job-manifest.js';
import { resolvePool } from '../backends/pool/resolve-pool.js';
import type { Backend, JobHandle } from '../backends/types.js';
import { paths } from '../config/env.js';
import { GPU_TYPE, RESOURCE_LIMITS } from '../config/resources.js';
import { backendName, loadUserConfig, resolveBackend, type BackendConfig, type UserConfig } from '../backends/user-config.js';
import { ErrorKind, errorMessage, RepriseError } from '../errors.js';
import { LAB_APP_NAMES } from '../lab/apps/types.js';
import { dotGitIdentity, Git } from '../project/git.js';
import { PROJECT_FILE } from '../project/layout.js';
import { redactSecrets, urlCredentials } from '../redact.js';
import { resolveRunInput } from '../workflows/run-origin.js';
import type { RunInput } from './types.js';

/**
 * A workflow's input is a request from whoever could start the workflow, never an instruction:
 * every activity's arguments are parsed here before the activity does anything (docs/security.md,
 * "Workflow inputs"). Formats are zod schemas; what needs the worker's disk or config (a project
 * root it owns, a remote its operator allows, a backend it serves, a handle it could have made)
 * is checked after.
 */

/** Run, sweep and lab ids (and their job arrays): one path segment, never "." or "..". */
const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be an id of letters, digits, ".", "_" and "-" (no "/", at most 128)');
const commit = z.string().regex(/^[0-9a-f]{40}$/, 'must be a 40-hex commit id');
const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be an image digest sha256:<64 hex>');
const text = z.string().max(4096).regex(/^[^\0]*$/, 'must not contain NUL');
/** A command's argument: any length the system allows, never NUL (execve could not pass it). */
const argument = z.string().regex(/^[^\0]*$/, 'must not contain NUL');
/** What git accepts after refs/heads/ (check-ref-format), minus names an argv could read as an option. */
const branchRef = z
  .string()
  .regex(/^refs\/heads\/(?!-)(?!.*(\.\.|@\{|\/\/|\/\.|\.lock$|\/$|\.$))[^\0- ~^:?*[\\\x7f]+$/, 'must be refs/heads/<branch>, a valid branch name not starting with "-"');

const resources = z
  .object({
    cpus: z.number().positive().max(RESOURCE_LIMITS.cpus).optional(),
    memoryBytes: z.number().int().positive().max(RESOURCE_LIMITS.memoryBytes).optional(),
    gpus: z.number().int().min(0).max(RESOURCE_LIMITS.gpus).optional(),
    gpuType: z.string().regex(GPU_TYPE, 'must be a GPU type: a lowercase name (letters, digits, ".", "_", "-")').optional(),
    timeSeconds: z.number().int().positive().max(RESOURCE_LIMITS.timeSeconds).optional(),
  })
  .strict();

const handle = z
  .object({ kind: z.enum(['docker', 'slurm', 'kubernetes']), runId: id, jobId: z.string().min(1).max(253).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a job id of the backend') })
  .passthrough();
const preparedSources = z.object({ sourceCommit: commit, swept: z.boolean(), branch: z.union([branchRef, z.literal('HEAD')]).optional() }).strict();
const preparedImage = z.object({ digest, tag: text.optional(), reference: text.optional(), environment: z.string().regex(/^[0-9a-f]{6,64}$/), reused: z.boolean(), unpublished: z.literal(true).optional() }).strict();
const params = z.record(text, text);

const teamRun = z
  .object({ remote: z.string().min(1).max(2048).regex(/^[^-\s]\S*$/, 'must be a git remote URL (no spaces, not starting with "-")'), branch: branchRef, sourceCommit: commit, image: preparedImage, lock: z.string().optional() })
  .strict();

const runInput = z
  .object({
    runId: id,
    projectRoot: z.string().max(4096),
    backend: backendName,
    command: z.array(argument).max(100_000),
    workdir: text.optional(),
    resources,
    rerun: z.object({ runId: id, sourceCommit: commit, imageDigest: digest, imageReference: text.optional() }).strict().optional(),
    team: teamRun.optional(),
    sweep: z.object({ sweepId: id, index: z.number().int().min(0), params }).strict().optional(),
    prepared: z.object({ sources: preparedSources, image: preparedImage }).strict().optional(),
    placementStart: z.number().int().min(0).optional(),
    attached: z.object({ handle }).strict().optional(),
    lab: z.object({ port: z.number().int().min(1).max(65535), checkpointSeconds: z.number().positive(), app: z.enum(LAB_APP_NAMES).optional() }).strict().optional(),
    reuse: z.boolean().optional(),
  })
  .strict()
  // Which modes go together is decided where the workflows decide them (src/workflows/run-origin.ts).
  .superRefine((input, ctx) => {
    const resolved = resolveRunInput(input as RunInput);
    if ('conflict' in resolved) ctx.addIssue({ code: z.ZodIssueCode.custom, path: resolved.conflict.field.split('.'), message: resolved.conflict.why });
  });
type CheckedRunInput = z.infer<typeof runInput>;

const sweepPointResult = z
  .object({
    index: z.number().int().min(0),
    params,
    runId: id,
    state: z.enum(['succeeded', 'failed', 'cancelled', 'reused', 'not-started']),
    exitCode: z.number().int().optional(),
    backend: backendName.optional(),
    commit: commit.optional(),
    reason: text.optional(),
  })
  .strict();

const sweepInput = z
  .object({
    sweepId: id,
    projectRoot: z.string().max(4096),
    projectId: text,
    backend: backendName,
    template: z.array(argument),
    params: z.record(text, z.array(text)),
    workdir: text.optional(),
    resources,
    points: z.array(z.object({ index: z.number().int().min(0), params, command: z.array(argument) }).strict()),
    maxParallel: z.number().int().positive().optional(),
    array: z.boolean().optional(),
    reuse: z.boolean().optional(),
    retry: z.object({ of: id, kept: z.array(sweepPointResult), sources: preparedSources, image: preparedImage }).strict().optional(),
  })
  .strict();

const figure = z.number().finite().nonnegative();
const jobUsage = z
  .object({ wallSeconds: figure, cpuSeconds: figure.optional(), coreHours: figure.optional(), gpuHours: figure.optional(), peakMemoryBytes: figure.optional(), source: z.string().max(64) })
  .strict();
const jobStatus = z
  .object({ phase: z.enum(['pending', 'running', 'exited', 'lost']), granted: z.record(z.string().max(256), z.string().max(256)).optional(), used: jobUsage.optional() })
  .passthrough();
const finishInput = z
  .object({
    input: runInput,
    sources: preparedSources,
    image: preparedImage,
    handle: handle.optional(),
    status: jobStatus,
    state: z.enum(['succeeded', 'failed', 'cancelled', 'reused']),
    skippedOutputs: z.array(z.object({ path: text }).passthrough()).optional(),
    placement: z.object({ pool: backendName, trail: z.array(z.object({ backend: backendName }).passthrough()) }).strict().optional(),
    reusedFrom: id.optional(),
    times: z.object({ queuedAt: text, submittedAt: text, collectedAt: text }).strict().optional(),
  })
  .strict();
const keyedRun = z.object({ key: z.string().regex(/^sha256:[0-9a-f]{64}$/), runId: id, commit, exitCode: z.number().int() }).strict();

const checkpointRequest = z
  .object({
    input: runInput,
    handle,
    sources: preparedSources,
    image: preparedImage,
    labImage: preparedImage,
    checkpoint: z.number().int().min(0),
    startedAt: text,
    final: z.object({ state: text, reason: text.optional() }).strict().optional(),
  })
  .strict();

const endedEvent = z.object({ kind: z.enum(['run', 'sweep', 'lab']), id, commit, projectRoot: z.string().max(4096), team: teamRun.optional() }).strict();

/** Who this worker is to its inputs: its home, its uid, and (a team worker) the backends it serves. */
export interface InputPolicy {
  home: string;
  /** The worker's backend of that name, asked whether a handle is its own (Backend.checkHandle). */
  backendOf: (name: string) => Promise<Backend>;
  /** `reprise worker --backends`: only these backends, and projects only through allowed remotes. */
  servedBackends?: string[];
  /** The account whose projects a local agent records into (default: this process's). */
  uid?: number;
  /** The worker's user config (default: read from `home` on each ask). */
  userConfig?: () => Promise<UserConfig>;
}

/** One activity's parameters by name (in order, so a refusal names the field) and the checks that need disk or config. */
interface InputCheck {
  params: [string, z.ZodTypeAny][];
  confine?: (args: readonly unknown[]) => Promise<void>;
}

class Refused extends Error {}
const refuse = (field: string, why: string) => new Refused(`refused workflow input: ${field} ${why}`);

/** The ApplicationFailure a refused input becomes: final, typed as bad input, naming the field. */
const failure = (activity: string, message: string) => ApplicationFailure.create({ message: `${activity}: ${message}`, type: ErrorKind.badInput, nonRetryable: true });

/** `activities` with every argument checked first; `checks` must name every activity (the compiler says which is missing). */
export function checkedActivities<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T, checks: { [K in keyof T]: InputCheck }): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    const check = checks[name as keyof T];
    wrapped[name] = async (...args: never[]) => {
      for (const [i, [param, schema]] of check.params.entries()) {
        const parsed = schema.safeParse(args[i]);
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          throw failure(name, `refused workflow input: ${[param, ...issue.path].join('.')} ${issue.message}`);
        }
      }
      try {
        await check.confine?.(args);
      } catch (err) {
        if (err instanceof Refused) throw failure(name, err.message);
        // A backend that cannot be asked now is not a refusal: the activity's retry policy paces it.
        if (err instanceof RepriseError && err.kind !== ErrorKind.backendUnavailable) throw failure(name, `refused workflow input: ${errorMessage(err)}`);
        throw err;
      }
      return fn(...args);
    };
  }
  return wrapped as T;
}

/** "*": any characters but "/"; "**": any characters; everything else literally. */
export function remoteAllowed(remote: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => new RegExp(`^${p.split('**').map((part) => part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')).join('.*')}$`).test(remote));
}

/** The checks of every activity's input against this worker's policy. */
export function inputChecks(policy: InputPolicy) {
  const config = policy.userConfig ?? (() => loadUserConfig(policy.home));
  const topsSeen = new Set<string>();

  /** A backend this worker serves: a team worker only its own (and their pools' members); an agent any of its config. */
  async function served(field: string, name: string, user?: UserConfig): Promise<BackendConfig> {
    const cfg = user ?? (await config());
    const found = resolveBackendOrRefuse(cfg, field, name);
    const own = policy.servedBackends;
    if (own && !own.includes(name) && !own.some((b) => resolveBackend(cfg, b).config.kind === 'pool' && resolvePool(cfg, b).members.some((m) => m.name === name))) {
      throw refuse(field, `"${name}" is not a backend this worker serves (it serves ${own.join(', ')})`);
    }
    return found;
  }

  /** A project a local agent may commit in: a Reprise project at the top of its git repository, owned by the worker's account. */
  async function ownProject(field: string, root: string): Promise<void> {
    if (!isAbsolute(root) || normalize(root) !== root) throw refuse(field, 'must be an absolute, normalised path');
    const real = await realpath(root).catch(() => undefined);
    if (!real) throw refuse(field, `${root} does not exist`);
    const uid = policy.uid ?? process.getuid?.();
    if (uid !== undefined && (await stat(real)).uid !== uid) throw refuse(field, `${root} is not owned by this worker's account`);
    if (!(await stat(join(real, PROJECT_FILE)).then((s) => s.isFile(), () => false))) throw refuse(field, `${root} is not a Reprise project (no ${PROJECT_FILE})`);
    // Asked of git once per repository (every activity of every run checks it).
    const id = await dotGitIdentity(real);
    if (id && topsSeen.has(id)) return;
    const top = (await new Git(real).tryRun(['rev-parse', '--show-toplevel']))?.trim();
    if (top !== real) throw refuse(field, `${root} is not the top of a git repository this worker's account owns`);
    if (id) topsSeen.add(id);
  }

  /** Where the run's project comes from: this worker's own project (agent), or an allowed remote (team). */
  async function source(field: string, input: Pick<CheckedRunInput, 'projectRoot' | 'team'>, user: UserConfig): Promise<void> {
    if (input.team) {
      if (input.projectRoot !== '') throw refuse(`${field}.projectRoot`, "must be empty in a team run (workers reach the project through its remote)");
      // Clients send remotes without credentials; one that came with a password is refused
      // without repeating it (it is already in this workflow's history: the sender should rotate it).
      if (urlCredentials(input.team.remote)) throw refuse(`${field}.team.remote`, `"${redactSecrets(input.team.remote)}" carries a password: a workflow input names a remote without credentials (workers use their own git credentials)`);
      const allowed = user.worker?.allowedRemotes ?? [];
      if (!allowed.length) throw refuse(`${field}.team.remote`, `"${input.team.remote}" is not allowed: this worker allows no team remotes (set worker.allowedRemotes in its config.yaml)`);
      if (!remoteAllowed(input.team.remote, allowed)) throw refuse(`${field}.team.remote`, `"${input.team.remote}" matches none of this worker's worker.allowedRemotes`);
      return;
    }
    if (policy.servedBackends) throw refuse(`${field}.projectRoot`, 'is refused: a team worker reaches projects only through their remote (team runs)');
    await ownProject(`${field}.projectRoot`, input.projectRoot);
  }

  /** A handle this worker could have made for this run on this backend: nothing else is cancelled, read or removed. */
  async function ownHandle(field: string, h: JobHandle, runId: string, name: string, backend: BackendConfig): Promise<void> {
    if (h.kind !== backend.kind) throw refuse(`${field}.kind`, `"${h.kind}" is not the kind of the run's backend (${backend.kind})`);
    if (h.runId !== runId) throw refuse(`${field}.runId`, `"${h.runId}" is not the run's id ${runId}`);
    const runDir = paths.runDir(policy.home, runId);
    const expect = (key: string, value: unknown) => {
      if (h[key] !== value) throw refuse(`${field}.${key}`, `must be ${JSON.stringify(value)} for run ${runId}`);
    };
    if (backend.kind === 'docker') {
      if (!/^[0-9a-f]{64}$/.test(h.jobId)) throw refuse(`${field}.jobId`, 'must be a container id (64 hex)');
      expect('sources', join(runDir, 'src'));
    } else if (backend.kind === 'kubernetes') {
      expect('jobId', kubernetesJobName(runId));
      expect('namespace', backend.namespace);
      // Another team worker may have staged the run (its own home): any home's archive of this run, nothing else.
      const sources = String(h.sources);
      if (!isAbsolute(sources) || normalize(sources) !== sources || !sources.endsWith(`/runs/${runId}/sources.k8s.tar`)) {
        throw refuse(`${field}.sources`, `must be a worker's ${join('runs', runId, 'sources.k8s.tar')}`);
      }
    } else if (backend.kind === 'slurm') {
      // The backend checks the run directory against its own workdir (SlurmBackend.checked).
      if (!/^\d+(_\d+)?$/.test(h.jobId)) throw refuse(`${field}.jobId`, 'must be a SLURM job id');
    }
    // What only the backend knows: the container carries the run's label, the run directory is under its workdir.
    await (await policy.backendOf(name)).checkHandle?.(h);
  }

  async function run(field: string, input: CheckedRunInput): Promise<BackendConfig> {
    const user = await config();
    const backend = await served(`${field}.backend`, input.backend, user);
    await source(field, input, user);
    if (input.attached) await ownHandle(`${field}.attached.handle`, input.attached.handle as JobHandle, input.runId, input.backend, backend);
    return backend;
  }
  const runAndHandle = async (field: string, input: CheckedRunInput, h: JobHandle | undefined) => {
    const backend = await run(field, input);
    if (h) await ownHandle('handle', h, input.runId, input.backend, backend);
  };

  // The arguments were parsed by `params` before `confine` runs: the casts restate those schemas.
  const inputOnly = async (args: readonly unknown[]) => void (await run('input', args[0] as CheckedRunInput));
  const inputAndHandle = (args: readonly unknown[]) => runAndHandle('input', args[0] as CheckedRunInput, args[1] as JobHandle | undefined);
  const finished = (field: string) => (args: readonly unknown[]) => {
    const f = args[0] as { input: CheckedRunInput; handle?: JobHandle };
    return runAndHandle(`${field}.input`, f.input, f.handle);
  };
  /** A project path the job reads (tracked data): relative, no "." or ".." segment. */
  const projectPath = text.regex(/^(?!\/)(?!.*(^|\/)\.{1,2}(\/|$)).+$/, 'must be a relative project path without "." or ".." segments');
  /** Where a data mount comes from: a data cache's object or folder tree by digest, nothing else on the host. */
  const dataSource = text.regex(/^\/(?!.*(^|\/)\.{1,2}(\/|$)).*\/(files\/md5\/[0-9a-f]{2}\/[0-9a-f]{30}|reprise\/trees\/[0-9a-f]{32})$/, "must be a data cache's object (files/md5/…) or folder tree (reprise/trees/…)");
  const staged = z.object({ image: text, sources: text, readOnly: z.array(projectPath).optional(), mounts: z.array(z.object({ path: projectPath, source: dataSource }).strict()).optional() }).strict();
  const onlyInput: InputCheck = { params: [['input', runInput]], confine: inputOnly };
  const withHandle: InputCheck = { params: [['input', runInput], ['handle', handle]], confine: inputAndHandle };
  return {
    prepare: onlyInput,
    checkBackend: onlyInput,
    findReusable: { params: [['input', runInput], ['sourceCommit', commit], ['image', preparedImage]], confine: inputOnly },
    recordReused: { params: [['input', runInput], ['sources', preparedSources], ['image', preparedImage], ['from', keyedRun]], confine: inputOnly },
    findImage: { params: [['input', runInput], ['sourceCommit', commit]], confine: inputOnly },
    buildImage: { params: [['input', runInput], ['sourceCommit', commit]], confine: inputOnly },
    publishImage: { params: [['input', runInput], ['image', preparedImage]], confine: inputOnly },
    resolveRecordedImage: onlyInput,
    stage: { params: [['input', runInput], ['sourceCommit', commit], ['image', preparedImage]], confine: inputOnly },
    submit: { params: [['input', runInput], ['staged', staged]], confine: inputOnly },
    submitArray: {
      params: [['arrayId', id], ['backendName', backendName], ['jobs', z.array(z.object({ input: runInput, staged }).strict())], ['maxParallel', z.number().int().positive().optional()]],
      confine: async (args) => {
        await served('backendName', args[1] as string);
        for (const [i, job] of (args[2] as { input: CheckedRunInput }[]).entries()) await run(`jobs.${i}.input`, job.input);
      },
    },
    awaitJob: withHandle,
    cancelJob: withHandle,
    collect: withHandle,
    jobStatus: withHandle,
    awaitStart: withHandle,
    cleanup: { params: [['input', runInput], ['handle', handle.optional()]], confine: inputAndHandle },
    record: { params: [['finish', finishInput]], confine: finished('finish') },
    publishRun: { params: [['finish', finishInput]], confine: finished('finish') },
    resolveTarget: { params: [['backend', backendName]], confine: async (args) => void (await served('backend', args[0] as string)) },
    requestSlot: { params: [['backend', backendName], ['holder', id]], confine: async (args) => void (await served('backend', args[0] as string)) },
    closedWorkflows: { params: [['ids', z.array(id).max(10_000)]] },
    recordSweep: {
      params: [['input', sweepInput], ['sources', preparedSources], ['image', preparedImage], ['points', z.array(sweepPointResult)], ['state', z.enum(['succeeded', 'failed', 'cancelled'])], ['startedAt', text]],
      confine: async (args) => {
        if (policy.servedBackends) throw refuse('input.projectRoot', 'is refused: a team worker records no sweeps in a local project');
        await ownProject('input.projectRoot', (args[0] as { projectRoot: string }).projectRoot);
      },
    },
    buildLabImage: { params: [['input', runInput], ['image', preparedImage]], confine: inputOnly },
    labCheckpoint: { params: [['request', checkpointRequest]], confine: finished('request') },
    notifiersConfigured: { params: [] },
    // The record is read from the event's project: one this worker owns, or an allowed remote.
    notifyEnded: { params: [['event', endedEvent]], confine: async (args) => source('event', args[0] as z.infer<typeof endedEvent>, await config()) },
  } satisfies Record<string, InputCheck>;
}

function resolveBackendOrRefuse(config: UserConfig, field: string, name: string): BackendConfig {
  try {
    return resolveBackend(config, name).config;
  } catch (err) {
    throw refuse(field, errorMessage(err));
  }
}
