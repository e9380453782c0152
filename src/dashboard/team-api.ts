import type { OpenAPIHono } from '@hono/zod-openapi';
import { defaultPayloadConverter } from '@temporalio/common';
import { Git } from '../project/git.js';
import { parseTrailers } from '../project/run-record.js';
import type { ApiDeps } from './read-api.js';
import { jsonRoute } from './routes.js';
import * as s from './schemas.js';

/** How many recorded runs the view reads (newest first): a team's whole history would not fit a page. */
const RECORDED_LIMIT = 1000;
export const TEAM_HINT = "team mode is not configured: restart the dashboard with REPRISE_TEAM=1 TEMPORAL_ADDRESS=<the team's Temporal host:port> reprise dashboard";

type TeamRun = s.TeamView['runs'][number];

/**
 * The person of each run: its source commit's author (a worker commits the record, the person the
 * source). None when this clone has not fetched the commit, or when it is a run's record (a run
 * started with no edits on top of one: its author is the worker that recorded it).
 */
async function authorsOf(git: Git, commits: (string | undefined)[]): Promise<Map<string, string>> {
  const wanted = [...new Set(commits.filter((c): c is string => Boolean(c && /^[0-9a-f]{40}$/.test(c))))];
  const authors = new Map<string, string>();
  if (!wanted.length) return authors;
  const log = await git.tryRun(['log', '--no-walk=unsorted', '--ignore-missing', '--stdin', '--format=%H%x1f%an%x1f%(trailers:key=Reprise-Run,valueonly,unfold)%x1e'], { input: wanted.join('\n') + '\n' });
  for (const entry of (log ?? '').split('\x1e')) {
    const [commit, author, record] = entry.trim().split('\x1f');
    // Started on top of a record with no edits: that commit's author is a worker, not the person.
    if (commit && author && !record?.trim()) authors.set(commit, author);
  }
  return authors;
}

/** Recorded runs of the current branch with the worker each record names and the person who made its source commit. */
async function recordedRuns(root: string): Promise<TeamRun[]> {
  const git = new Git(root);
  const keys = ['Reprise-Run', 'Reprise-State', 'Reprise-Backend', 'Reprise-Command', 'Reprise-Started', 'Reprise-Source-Commit', 'Reprise-Worker'];
  const out = await git.tryRun(['log', '--grep=^Reprise-Run:', '-n', String(RECORDED_LIMIT), `--format=%(trailers:${keys.map((k) => `key=${k}`).join(',')},unfold)%x1e`]);
  const records = (out ?? '').split('\x1e').map((t) => parseTrailers(t.trim())).filter((t) => t['Reprise-Run']);
  const authors = await authorsOf(git, records.map((t) => t['Reprise-Source-Commit']));
  return records.map((t) => {
    let command: string[] = [];
    try {
      command = JSON.parse(t['Reprise-Command'] ?? '[]') as string[];
    } catch {
      /* a hand-edited trailer: keep the run */
    }
    const person = authors.get(t['Reprise-Source-Commit'] ?? '');
    return {
      runId: t['Reprise-Run']!,
      state: t['Reprise-State'] ?? 'unknown',
      backend: (t['Reprise-Backend'] ?? '').replace(/ \(.*\)$/, ''),
      command,
      at: t['Reprise-Started'] ?? '',
      recorded: true,
      ...(person ? { person } : {}),
      ...(t['Reprise-Worker'] ? { worker: t['Reprise-Worker'] } : {}),
    };
  });
}

/** Runs the team's Temporal runs now for this project, with the worker executing each (its pending activity's last worker). */
async function liveRuns(deps: ApiDeps): Promise<TeamRun[]> {
  const { client } = deps;
  const live = (await client.listWithState(deps.project, 200)).filter((r) => r.status === 'RUNNING');
  const described = await Promise.all(
    live.map(async (r) => {
      const desc = await client.temporal.workflowService
        .describeWorkflowExecution({ namespace: client.env.temporalNamespace, execution: { workflowId: r.runId } })
        .catch(() => undefined);
      const worker = desc?.pendingActivities?.map((a) => a.lastWorkerIdentity).find(Boolean);
      const memo = desc?.workflowExecutionInfo?.memo?.fields?.sourceCommit;
      const sourceCommit = memo ? defaultPayloadConverter.fromPayload<string>(memo) : undefined;
      return { r, worker, sourceCommit };
    }),
  );
  const authors = await authorsOf(new Git(deps.project.root), described.map((d) => d.sourceCommit));
  return described.map(({ r, worker, sourceCommit }) => {
    const person = authors.get(sourceCommit ?? '');
    return {
      runId: r.runId,
      state: r.state,
      backend: r.backend,
      command: r.command,
      at: r.startTime,
      recorded: false,
      ...(person ? { person } : {}),
      ...(worker ? { worker } : {}),
      ...(r.waiting ? { waiting: r.waiting } : {}),
    };
  });
}

/** The Team view's route: every person's and worker's runs of this project, filterable by person and worker. */
export function addTeamRoutes(app: OpenAPIHono, deps: ApiDeps): void {
  app.openapi(
    jsonRoute({
      method: 'get',
      path: '/api/team',
      summary: "Team mode: this project's runs by every person and worker (live ones from the team's Temporal, then recorded ones), filterable by person and worker",
      request: { query: s.TeamQuery },
      response: s.TeamView,
      errors: [400, 401],
    }),
    async (c) => {
      const { env } = deps.client;
      if (!env.team) return c.json({ team: false, hint: TEAM_HINT, people: [], workers: [], runs: [] }, 200);
      const { person, worker } = c.req.valid('query');
      const recorded = await recordedRuns(deps.project.root);
      const seen = new Set(recorded.map((r) => r.runId));
      // A run recorded meanwhile is shown once, from its record.
      const all = [...(await liveRuns(deps)).filter((r) => !seen.has(r.runId)), ...recorded];
      const names = (pick: (r: TeamRun) => string | undefined) => [...new Set(all.map(pick).filter((n): n is string => Boolean(n)))].sort();
      const runs = all.filter((r) => (!person || r.person === person) && (!worker || r.worker === worker));
      return c.json({ team: true, temporalAddress: env.temporalAddress, people: names((r) => r.person), workers: names((r) => r.worker), runs }, 200);
    },
  );
}
