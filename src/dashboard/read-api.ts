import type { OpenAPIHono } from '@hono/zod-openapi';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { JOB_LOG } from '../config/env.js';
import { readRunLog, type RunClient } from '../client/runs.js';
import { notFound } from '../errors.js';
import { compareOutputs } from '../project/compare.js';
import { findRun, readFeed, readRecord, readSweepRecord } from '../project/history.js';
import { labView, readLabImage, readLabs } from '../project/lab-history.js';
import type { Project } from '../project/layout.js';
import { activityPage } from './activity.js';
import { streamRunLog } from './log-stream.js';
import { envDiff, noParent, parentRun, runUsage, sourceDiff, timelineOf, withMetric } from './run-details.js';
import { jsonRoute, rawRoute } from './routes.js';
import * as s from './schemas.js';

const execFileP = promisify(execFile);

export interface ApiDeps {
  project: Project;
  client: RunClient;
}

/** True when Temporal knows `id` as a workflow of this project (another project's ids are not ours to show). */
export async function ownLive(deps: ApiDeps, id: string): Promise<{ running: boolean } | undefined> {
  const desc = await deps.client.handle(id).describe().catch(() => undefined);
  if (!desc || desc.memo?.projectId !== deps.project.spec.id) return undefined;
  return { running: desc.status.name === 'RUNNING' };
}

/** A recorded run of this project by its exact id (prefixes are the CLI's convenience, not the API's). */
export async function recordedRun(root: string, runId: string) {
  const entry = await findRun(root, runId).catch(() => undefined);
  return entry?.runId === runId ? entry : undefined;
}

const OUTPUT_TYPES: Record<string, string> = {
  png: 'image/png',
  svg: 'image/svg+xml',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  csv: 'text/csv; charset=utf-8',
  json: 'application/json',
  txt: 'text/plain; charset=utf-8',
};
// Output bytes are the job's data: never run as a page (an SVG's script stays inert).
const BYTES_HEADERS = { 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; sandbox", 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' };

/** The read-only routes: project, feed, activity pages, runs, logs (JSON and live), outputs, sweeps, labs. */
export function addReadRoutes(app: OpenAPIHono, deps: ApiDeps): void {
  const { project, client } = deps;
  app.openapi(jsonRoute({ method: 'get', path: '/api/project', summary: 'This project', response: s.ProjectInfo, errors: [401] }), (c) =>
    c.json({ name: project.spec.name, id: project.spec.id, root: project.root }, 200),
  );
  app.openapi(
    jsonRoute({ method: 'get', path: '/api/feed', summary: 'Recorded runs of the current branch, newest first (as `reprise log --json`)', request: { query: s.FeedQuery }, response: s.FeedEntry.array(), errors: [400, 401] }),
    async (c) => c.json(await readFeed(project.root, c.req.valid('query').n), 200),
  );
  app.openapi(
    jsonRoute({ method: 'get', path: '/api/activity', summary: 'One page of runs, sweeps and labs, newest first, filtered', request: { query: s.ActivityQuery }, response: s.ActivityPage, errors: [400, 401, 404] }),
    async (c) => c.json(await activityPage(project.root, c.req.valid('query')), 200),
  );
  app.openapi(jsonRoute({ method: 'get', path: '/api/runs', summary: 'Runs Temporal knows of this project, with their state', response: s.LiveRun.array(), errors: [401] }), async (c) =>
    c.json(await client.listWithState(project, 50), 200),
  );
  app.openapi(
    jsonRoute({ method: 'get', path: '/api/runs/{runId}', summary: 'A recorded run (its record) or a live one (its progress)', request: { params: s.RunIdParam }, response: s.RunView, errors: [400, 401, 404] }),
    async (c) => {
      const { runId } = c.req.valid('param');
      const entry = await recordedRun(project.root, runId);
      if (entry) {
        const { record } = await readRecord(project.root, entry);
        const original = record.rerunOf ? await recordedRun(project.root, record.rerunOf) : undefined;
        const verification = original ? compareOutputs((await readRecord(project.root, original)).record.outputs, record.outputs) : undefined;
        const parent = await parentRun(project.root, runId);
        return c.json(
          {
            recorded: true,
            ...record,
            commit: entry.commit,
            timeline: timelineOf(record),
            usage: runUsage(record),
            ...(parent ? { parentRun: parent } : {}),
            ...(verification ? { verification } : {}),
          },
          200,
        );
      }
      const progress = (await ownLive(deps, runId)) ? await client.progress(runId) : undefined;
      if (!progress) throw notFound(`no run ${runId} in this project`);
      return c.json({ recorded: false, ...progress }, 200);
    },
  );
  /** Two recorded runs of this project: the one asked for and the one to compare it with (404 for either unknown). */
  const pair = async (runId: string, against: string | undefined) => {
    const entry = await recordedRun(project.root, runId);
    if (!entry) throw notFound(`no recorded run ${runId} in this project`);
    const other = against ?? (await parentRun(project.root, runId));
    if (!other) throw noParent(runId);
    const otherEntry = await recordedRun(project.root, other);
    if (!otherEntry) throw notFound(`no recorded run ${other} in this project`);
    return [(await readRecord(project.root, otherEntry)).record, (await readRecord(project.root, entry)).record] as const;
  };
  app.openapi(
    jsonRoute({ method: 'get', path: '/api/runs/{runId}/source-diff', summary: "What changed in the sources from another recorded run's source commit (default: the run before it) to this run's", request: { params: s.RunIdParam, query: s.AgainstQuery }, response: s.SourceDiff, errors: [400, 401, 404] }),
    async (c) => {
      const [from, to] = await pair(c.req.valid('param').runId, c.req.valid('query').against);
      return c.json({ runId: to.runId, against: from.runId, from: from.sourceCommit, to: to.sourceCommit, ...(await sourceDiff(project.root, from, to)) }, 200);
    },
  );
  app.openapi(
    jsonRoute({ method: 'get', path: '/api/runs/{runId}/env-diff', summary: 'The packages that differ between the environment locks of another recorded run (default: the run before it) and this run (as `reprise env diff`)', request: { params: s.RunIdParam, query: s.AgainstQuery }, response: s.EnvDiff, errors: [400, 401, 404] }),
    async (c) => {
      const [from, to] = await pair(c.req.valid('param').runId, c.req.valid('query').against);
      return c.json(await envDiff(project.root, from.runId, to.runId), 200);
    },
  );
  app.openapi(
    jsonRoute({ method: 'get', path: '/api/runs/{runId}/log', summary: "A run's log so far", request: { params: s.RunIdParam }, response: s.RunLog, errors: [400, 401, 404] }),
    async (c) => {
      const { runId } = c.req.valid('param');
      const entry = await recordedRun(project.root, runId);
      if (entry) return c.json({ done: true, text: (await readRecord(project.root, entry)).log }, 200);
      if (!(await ownLive(deps, runId))) throw notFound(`no run ${runId} in this project`);
      if (client.env.team) {
        // A team run's worker is elsewhere: its latest output window rides on awaitJob's heartbeats.
        const window = (await client.awaitDetails(runId)).details?.log;
        const tail = Buffer.from(window?.tail ?? '', 'base64');
        return c.json({ done: false, text: tail.toString(), skipped: (window?.end ?? 0) - tail.length }, 200);
      }
      return c.json({ done: false, text: (await readRunLog(client.env, runId, JOB_LOG)) ?? '' }, 200);
    },
  );
  app.openapi(
    rawRoute({ path: '/api/runs/{runId}/log/stream', summary: "A run's log as server-sent events (`log`: JSON text, `end`: the final state), live while it runs", request: { params: s.RunIdParam }, contentType: 'text/event-stream', errors: [400, 401, 404] }),
    async (c) => {
      const { runId } = c.req.valid('param');
      if (!(await recordedRun(project.root, runId)) && !(await ownLive(deps, runId))) throw notFound(`no run ${runId} in this project`);
      return streamRunLog(c, project, client, runId);
    },
  );
  app.openapi(
    rawRoute({ path: '/api/runs/{runId}/output', summary: 'The bytes of one output file of a recorded run', request: { params: s.RunIdParam, query: s.OutputQuery }, contentType: 'application/octet-stream', errors: [400, 401, 404] }),
    async (c) => {
      const { runId } = c.req.valid('param');
      const { path } = c.req.valid('query');
      const entry = await recordedRun(project.root, runId);
      const record = entry && (await readRecord(project.root, entry)).record;
      // Only a file the record lists is served, from the record's own commit.
      if (!entry || !record?.outputs.some((o) => o.path === path)) throw notFound(`no output ${path} in run ${runId}`);
      const { stdout } = await execFileP('git', ['show', `${entry.commit}:${path}`], { cwd: project.root, encoding: 'buffer', maxBuffer: 256 * 2 ** 20 });
      const type = OUTPUT_TYPES[path.split('.').pop()!.toLowerCase()] ?? 'application/octet-stream';
      return c.body(new Uint8Array(stdout), 200, { 'content-type': type, ...BYTES_HEADERS });
    },
  );
  app.openapi(
    jsonRoute({ method: 'get', path: '/api/sweeps/{sweepId}', summary: "A sweep's grid: each point's parameters, state, exit code and, asked for, a metric from a JSON output", request: { params: s.SweepIdParam, query: s.SweepQuery }, response: s.SweepView, errors: [400, 401, 404] }),
    async (c) => {
      const { sweepId } = c.req.valid('param');
      const { metric, key } = c.req.valid('query');
      const recorded = await readSweepRecord(project.root, sweepId).catch(() => undefined);
      if (recorded?.record.sweepId === sweepId) {
        const r = recorded.record;
        const points = metric ? await withMetric(project.root, r.points, metric, key ?? '') : r.points;
        return c.json({ sweepId, recorded: true, state: r.state, template: r.template, params: r.params, points }, 200);
      }
      const progress = (await ownLive(deps, sweepId)) ? await client.sweepProgress(sweepId) : undefined;
      if (!progress) throw notFound(`no sweep ${sweepId} in this project`);
      const desc = await client.handle(sweepId).describe();
      const template = (desc.memo?.command as string[] | undefined) ?? [];
      const params: Record<string, string[]> = {};
      for (const p of progress.points) for (const [k, v] of Object.entries(p.params)) if (!(params[k] ??= []).includes(v)) params[k]!.push(v);
      const points = metric ? await withMetric(project.root, progress.points, metric, key ?? '') : progress.points;
      return c.json({ sweepId, recorded: false, state: progress.state, template, params, points }, 200);
    },
  );
  app.openapi(jsonRoute({ method: 'get', path: '/api/labs', summary: 'Lab sessions recorded on the current branch', response: s.LabSummary.array(), errors: [401] }), async (c) =>
    c.json(await readLabs(project.root), 200),
  );
  app.openapi(
    jsonRoute({ method: 'get', path: '/api/labs/{labId}', summary: "A lab session's executed cells and file changes", request: { params: s.LabIdParam }, response: s.LabView, errors: [400, 401, 404] }),
    async (c) => {
      const view = await labView(project.root, c.req.valid('param').labId);
      if (view.labId !== c.req.valid('param').labId) throw notFound(`no lab ${c.req.valid('param').labId} in this project`);
      return c.json(view, 200);
    },
  );
  app.openapi(
    rawRoute({ path: '/api/labs/{labId}/images/{name}', summary: "An image a lab session's cell produced", request: { params: s.LabImageParam }, contentType: 'image/png', errors: [400, 401, 404] }),
    async (c) => {
      const { labId, name } = c.req.valid('param');
      const bytes = await readLabImage(project.root, labId, name).catch(() => {
        throw notFound(`no image ${name} in lab ${labId}`);
      });
      return c.body(new Uint8Array(bytes), 200, { 'content-type': name.endsWith('.svg') ? 'image/svg+xml' : 'image/png', ...BYTES_HEADERS });
    },
  );
}
