import { z } from '@hono/zod-openapi';

// The dashboard API's shapes: the handlers validate with them, the OpenAPI document is generated
// from them and the web app imports their types, so the three cannot drift apart.

export const ErrorBody = z.object({ error: z.string() }).openapi('Error');

const RUN_ID = /^run-[a-z2-7]+$/;
const SWEEP_ID = /^sweep-[a-z2-7]{12}$/;
const LAB_ID = /^lab-[a-z2-7]+$/;
export const RunIdParam = z.object({ runId: z.string().regex(RUN_ID).openapi({ param: { name: 'runId', in: 'path' }, example: 'run-abcdefgh2345' }) });
export const SweepIdParam = z.object({ sweepId: z.string().regex(SWEEP_ID).openapi({ param: { name: 'sweepId', in: 'path' } }) });
export const LabIdParam = z.object({ labId: z.string().regex(LAB_ID).openapi({ param: { name: 'labId', in: 'path' } }) });

export const ProjectInfo = z.object({ name: z.string(), id: z.string(), root: z.string() }).openapi('Project');

export const FeedEntry = z
  .object({
    commit: z.string(),
    subject: z.string(),
    runId: z.string(),
    state: z.string(),
    backend: z.string(),
    command: z.array(z.string()),
    workdir: z.string().optional(),
    sourceCommit: z.string(),
    image: z.string(),
    environment: z.string(),
    exitCode: z.number(),
    startedAt: z.string(),
    finishedAt: z.string(),
    rerunOf: z.string().optional(),
    reusedFrom: z.string().optional(),
    key: z.string().optional(),
    sweep: z.string().optional(),
  })
  .openapi('FeedEntry');

export const FeedQuery = z.object({ n: z.coerce.number().int().min(1).max(10_000).default(100).openapi({ param: { name: 'n', in: 'query' } }) });

/** One line of the activity view: a run, a sweep summary or a lab session. */
export const ActivityItem = z
  .object({
    kind: z.enum(['run', 'sweep', 'lab']),
    id: z.string(),
    commit: z.string(),
    state: z.string(),
    backend: z.string(),
    at: z.string(),
    command: z.array(z.string()),
    exitCode: z.number().optional(),
    sweep: z.string().optional(),
    summary: z.string().optional(),
  })
  .openapi('ActivityItem');
export type ActivityItem = z.infer<typeof ActivityItem>;

export const ActivityQuery = z.object({
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  backend: z.string().max(200).optional(),
  state: z.string().max(40).optional(),
  branch: z.string().regex(/^[A-Za-z0-9._/-]+$/).max(200).optional(),
  q: z.string().max(200).optional(),
});
export type ActivityQuery = z.infer<typeof ActivityQuery>;

export const ActivityPage = z
  .object({ items: z.array(ActivityItem), total: z.number(), offset: z.number(), limit: z.number(), branch: z.string() })
  .openapi('ActivityPage');
export type ActivityPage = z.infer<typeof ActivityPage>;

export const LiveRun = z
  .object({
    runId: z.string(),
    status: z.string(),
    state: z.string(),
    startTime: z.string(),
    closeTime: z.string().optional(),
    command: z.array(z.string()),
    backend: z.string(),
    workdir: z.string().optional(),
    sweepId: z.string().optional(),
    waiting: z.string().optional(),
  })
  .openapi('LiveRun');

const FileDigest = z.object({ path: z.string(), sha256: z.string(), size: z.number() });
const DataRef = z.object({ path: z.string(), md5: z.string(), size: z.number() }).openapi('DataRef');
const TimelineEntry = z.object({ state: z.string(), at: z.string(), reason: z.string().optional() }).openapi('TimelineEntry');

/** Another recorded run to compare with (default: the run recorded before it). */
export const AgainstQuery = z.object({ against: z.string().regex(/^run-[a-z2-7]+$/).optional().openapi({ param: { name: 'against', in: 'query' }, example: 'run-abcdefgh2345' }) });
export const SourceDiff = z
  .object({ runId: z.string(), against: z.string(), from: z.string(), to: z.string(), diff: z.string(), truncated: z.boolean() })
  .openapi('SourceDiff');
export type SourceDiff = z.infer<typeof SourceDiff>;
export const EnvDiff = z
  .object({
    a: z.string(),
    b: z.string(),
    base: z.object({ from: z.string(), to: z.string() }).optional(),
    packages: z.array(z.object({ manager: z.string(), name: z.string(), change: z.string(), from: z.string().optional(), to: z.string().optional() })),
  })
  .openapi('EnvDiff');
export type EnvDiff = z.infer<typeof EnvDiff>;
/** A recorded run (its JSON record and commit) or a live one (its progress); other record fields pass through. */
export const RunView = z
  .object({
    recorded: z.boolean(),
    runId: z.string(),
    state: z.string(),
    command: z.array(z.string()).optional(),
    commit: z.string().optional(),
    exitCode: z.number().optional(),
    sourceCommit: z.string().optional(),
    backend: z.union([z.string(), z.object({ name: z.string(), kind: z.string(), jobId: z.string().optional() })]).optional(),
    image: z.object({ digest: z.string().optional(), tag: z.string().optional(), reference: z.string().optional() }).optional(),
    resources: z.record(z.union([z.number(), z.string()])).optional(),
    granted: z.record(z.string()).optional().openapi({ description: "what the scheduler granted a run that asked for GPUs (SLURM's AllocTRES, the pod's limits)" }),
    outputs: z.array(FileDigest).optional(),
    reason: z.string().optional(),
    startedAt: z.string().optional(),
    finishedAt: z.string().optional(),
    rerunOf: z.string().optional(),
    reusedFrom: z.string().optional(),
    worker: z.string().optional(),
    environmentLock: z.object({ path: z.string(), sha256: z.string() }).optional(),
    placement: z
      .object({ pool: z.string(), trail: z.array(z.object({ backend: z.string(), jobId: z.string().optional(), outcome: z.string(), reason: z.string().optional(), at: z.string() })) })
      .optional(),
    data: z.object({ inputs: z.array(DataRef), outputs: z.array(DataRef) }).optional(),
    timeline: z.object({ entries: z.array(TimelineEntry), complete: z.boolean().openapi({ description: 'false for runs recorded before timelines: only the start and finish are known' }) }).optional(),
    usage: z
      .object({ wallSeconds: z.number(), coreHours: z.number().optional().openapi({ description: 'asked cpus × wall time' }), gpuHours: z.number().optional().openapi({ description: 'asked gpus × wall time' }) })
      .optional(),
    used: z
      .object({
        wallSeconds: z.number(),
        cpuSeconds: z.number().optional().openapi({ description: "CPU time the job's processes used" }),
        coreHours: z.number().optional().openapi({ description: 'cores held × wall time where the backend reserves cores (SLURM, Kubernetes), else CPU time used (Docker)' }),
        gpuHours: z.number().optional(),
        peakMemoryBytes: z.number().optional(),
        source: z.string().openapi({ description: 'where the figures come from: sacct, pod requests, docker stats' }),
      })
      .optional()
      .openapi({ description: 'what the job used, as its backend measured it (absent where it cannot say)' }),
    parentRun: z.string().optional().openapi({ description: 'the run recorded just before this one on the branch' }),
    verification: z.object({ identical: z.boolean(), files: z.array(z.object({ path: z.string(), verdict: z.string() })) }).optional(),
  })
  .openapi('Run');
export type RunView = z.infer<typeof RunView>;

export const RunLog = z.object({ done: z.boolean(), text: z.string(), skipped: z.number().optional() }).openapi('RunLog');
export const OutputQuery = z.object({ path: z.string().regex(/^output\/[^\0]+$/).max(1000).openapi({ param: { name: 'path', in: 'query' }, example: 'output/plot.png' }) });

export const SweepPoint = z
  .object({
    index: z.number(),
    params: z.record(z.string()),
    runId: z.string(),
    state: z.string(),
    exitCode: z.number().optional(),
    backend: z.string().optional(),
    commit: z.string().optional(),
    metric: z.union([z.number(), z.string(), z.boolean(), z.null()]).optional().openapi({ description: 'the chosen metric of this point (null: its output has no such value)' }),
  })
  .openapi('SweepPoint');
/** A metric of each point: a key path in a JSON output file, as `output/result.json` and `scores.f1`. */
export const SweepQuery = z.object({
  metric: z.string().regex(/^output\/(?!.*\.\.)[^\0]+\.json$/).max(1000).optional().openapi({ param: { name: 'metric', in: 'query' }, example: 'output/result.json' }),
  key: z.string().regex(/^[^\0]+$/).max(200).optional().openapi({ param: { name: 'key', in: 'query' }, example: 'scores.f1' }),
});
export const SweepView = z
  .object({ sweepId: z.string(), recorded: z.boolean(), state: z.string(), template: z.array(z.string()), params: z.record(z.array(z.string())), points: z.array(SweepPoint) })
  .openapi('Sweep');
export type SweepView = z.infer<typeof SweepView>;

export const LabSummary = z
  .object({
    labId: z.string(),
    commits: z.array(z.string()),
    checkpoints: z.number(),
    state: z.string(),
    backend: z.string(),
    app: z.string().openapi({ description: 'the app the session opened: jupyterlab, vscode, …' }),
    startedAt: z.string(),
    lastAt: z.string(),
    executions: z.number(),
    sourceCommit: z.string(),
  })
  .openapi('LabSummary');
export const LabView = z
  .object({
    labId: z.string(),
    state: z.string(),
    app: z.string(),
    files: z.array(z.object({ path: z.string(), change: z.string() })),
    executions: z.array(
      z.object({ n: z.number(), code: z.string(), status: z.string(), duration: z.number(), images: z.array(z.string()) }),
    ),
  })
  
  .openapi('Lab');
export type LabView = z.infer<typeof LabView>;
export const LabImageParam = LabIdParam.extend({ name: z.string().regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]*\.(png|svg)$/).openapi({ param: { name: 'name', in: 'path' } }) });

export const Session = z.object({ loggedIn: z.boolean(), csrf: z.string().optional(), loginRequiredToRead: z.boolean() }).openapi('Session');
export type Session = z.infer<typeof Session>;
export const LoginQuery = z.object({ token: z.string().max(400).openapi({ param: { name: 'token', in: 'query' } }) });

export const RerunBody = z.object({ backend: z.string().regex(/^[A-Za-z0-9._-]+$/).max(100).optional() }).openapi('RerunRequest');
export const ActionResult = z.object({ id: z.string(), state: z.string() }).openapi('ActionResult');
export type ActionResult = z.infer<typeof ActionResult>;

/** A run of this project queued or running on a backend, as `reprise runs` shows it. */
const QueuedRun = z.object({ runId: z.string(), state: z.string(), startTime: z.string(), command: z.array(z.string()), waiting: z.string().optional().openapi({ description: 'why the scheduler keeps it pending, in its words' }) });
/** One configured backend, without its check (GET /api/backends/{name}/check gives that: it may be slow). */
export const BackendView = z
  .object({
    name: z.string(),
    kind: z.string(),
    settings: z.string().openapi({ description: 'as `reprise backend list` describes it' }),
    maxParallel: z.number().optional(),
    slots: z
      .object({ inUse: z.number(), waiting: z.number(), limit: z.number(), scope: z.enum(['all projects', 'this project']).openapi({ description: "all projects: the backend's slot holder answered; this project: counted from this project's runs" }) })
      .optional(),
    members: z.array(z.string()).optional().openapi({ description: "a pool's members, in the order runs try them" }),
    poolsOf: z.array(z.string()).openapi({ description: 'the pools this backend is a member of' }),
    running: z.array(QueuedRun),
    pending: z.array(QueuedRun),
  })
  .openapi('Backend');
export type BackendView = z.infer<typeof BackendView>;
export const BackendList = z.object({ backends: z.array(BackendView), configError: z.string().optional() }).openapi('BackendList');
export type BackendList = z.infer<typeof BackendList>;
export const BackendNameParam = z.object({ name: z.string().regex(/^[A-Za-z0-9._-]+$/).max(100).openapi({ param: { name: 'name', in: 'path' }, example: 'local' }) });
const CheckResult = z.union([
  z.object({ ok: z.literal(true), kind: z.string(), version: z.string(), details: z.record(z.string()) }),
  z.object({ ok: z.literal(false), kind: z.string(), error: z.string().openapi({ description: 'one line: what is wrong and how to fix it' }) }),
]);
export const BackendCheckView = z
  .object({ name: z.string(), checkedAt: z.string(), seconds: z.number() })
  .and(z.union([CheckResult, z.object({ ok: z.boolean(), kind: z.literal('pool'), members: z.array(z.object({ name: z.string() }).and(CheckResult)) })]))
  .openapi('BackendCheck');
export type BackendCheckView = z.infer<typeof BackendCheckView>;

/** Team mode: every person's and worker's runs of this project. */
export const TeamQuery = z.object({
  person: z.string().max(200).optional().openapi({ param: { name: 'person', in: 'query' } }),
  worker: z.string().max(200).optional().openapi({ param: { name: 'worker', in: 'query' } }),
});
export const TeamRunView = z
  .object({
    runId: z.string(),
    state: z.string(),
    backend: z.string(),
    command: z.array(z.string()),
    at: z.string(),
    recorded: z.boolean(),
    person: z.string().optional().openapi({ description: "who started it: the author of the run's source commit" }),
    worker: z.string().optional().openapi({ description: 'the worker that executed it (its record, or the worker running it now)' }),
    waiting: z.string().optional(),
  })
  .openapi('TeamRun');
export const TeamView = z
  .object({
    team: z.boolean(),
    temporalAddress: z.string().optional(),
    hint: z.string().optional().openapi({ description: 'without team mode: how to configure it' }),
    people: z.array(z.string()),
    workers: z.array(z.string()),
    runs: z.array(TeamRunView),
  })
  .openapi('Team');
export type TeamView = z.infer<typeof TeamView>;
