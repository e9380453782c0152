import type { OpenAPIHono } from '@hono/zod-openapi';
import { LabClient } from '../client/labs.js';
import { rerunRequest, startRunOn } from '../client/launch.js';
import { notFound, RepriseError } from '../errors.js';
import { sweepRetryInput } from '../client/sweep-retry.js';
import { executedRecord, readRecord, readSweepRecord } from '../project/history.js';
import { ownLive, recordedRun, type ApiDeps } from './read-api.js';
import { CsrfHeaders, jsonBody, jsonRoute } from './routes.js';
import * as s from './schemas.js';

/** 409: what the CLI refuses with exit 2 (or answers "nothing to do") because there is nothing to act on. */
export class NothingToDo extends Error {}

/**
 * The write routes: cancel a run or a sweep, rerun a run (on another backend; its page then
 * shows whether the outputs were reproduced, as `reprise verify`), stop a lab. Each calls the
 * client code the CLI commands call, with the same checks.
 */
export function addActionRoutes(app: OpenAPIHono, deps: ApiDeps): void {
  const { project, client } = deps;
  const errors = [400, 401, 403, 404, 409] as const;
  // Rerun and verify start the same run (`reprise verify` is a rerun whose outputs are compared):
  // the new run's page shows the comparison with the original, output by output.
  const startRerun = async (runId: string, backend: string | undefined) => {
    const entry = await recordedRun(project.root, runId);
    if (!entry) throw notFound(`no recorded run ${runId} in this project`);
    // A reused run is rerun (and verified) as the run it reused: that one executed.
    const record = await executedRecord(project.root, (await readRecord(project.root, entry)).record);
    return startRunOn(client, rerunRequest(project, record, backend));
  };
  app.openapi(
    jsonRoute({ method: 'post', path: '/api/runs/{runId}/cancel', summary: 'Cancel a running run (as `reprise cancel`): its job is killed, the run recorded as cancelled', request: { params: s.RunIdParam, headers: CsrfHeaders }, response: s.ActionResult, errors: [...errors] }),
    async (c) => {
      const { runId } = c.req.valid('param');
      await assertRunning(deps, runId, 'run', 'cancel');
      await client.cancel(runId);
      return c.json({ id: runId, state: (await client.result(runId)).state }, 200);
    },
  );
  app.openapi(
    jsonRoute({ method: 'post', path: '/api/runs/{runId}/rerun', summary: 'Rerun a recorded run (as `reprise rerun --detach`), on its backend or another', request: { params: s.RunIdParam, body: jsonBody(s.RerunBody), headers: CsrfHeaders }, response: s.ActionResult, errors: [...errors] }),
    async (c) => {
      return c.json({ id: await startRerun(c.req.valid('param').runId, c.req.valid('json').backend), state: 'queued' }, 200);
    },
  );
  app.openapi(
    jsonRoute({ method: 'post', path: '/api/runs/{runId}/verify', summary: 'Verify a recorded run (as `reprise verify`, detached): rerun it on its backend or another; the new run\'s page says, per output, whether it is the same', request: { params: s.RunIdParam, body: jsonBody(s.RerunBody), headers: CsrfHeaders }, response: s.ActionResult, errors: [...errors] }),
    async (c) => {
      return c.json({ id: await startRerun(c.req.valid('param').runId, c.req.valid('json').backend), state: 'queued' }, 200);
    },
  );
  app.openapi(
    jsonRoute({ method: 'post', path: '/api/sweeps/{sweepId}/retry', summary: 'Retry a recorded sweep (as `reprise sweep retry --detach`): a new sweep of the points that did not succeed, on its backend or another', request: { params: s.SweepIdParam, body: jsonBody(s.RerunBody), headers: CsrfHeaders }, response: s.ActionResult, errors: [...errors] }),
    async (c) => {
      const { sweepId } = c.req.valid('param');
      const recorded = await readSweepRecord(project.root, sweepId).catch(() => undefined);
      if (recorded?.record.sweepId !== sweepId) throw notFound(`no recorded sweep ${sweepId} in this project`);
      const input = await sweepRetryInput(client.env, project, recorded.record, { backend: c.req.valid('json').backend });
      if (!input) throw new NothingToDo(`every point of ${sweepId} succeeded; nothing to retry`);
      await client.startSweep(input);
      return c.json({ id: input.sweepId, state: 'queued' }, 200);
    },
  );
  app.openapi(
    jsonRoute({ method: 'post', path: '/api/sweeps/{sweepId}/cancel', summary: 'Cancel a running sweep (as `reprise cancel sweep-…`)', request: { params: s.SweepIdParam, headers: CsrfHeaders }, response: s.ActionResult, errors: [...errors] }),
    async (c) => {
      const { sweepId } = c.req.valid('param');
      await assertRunning(deps, sweepId, 'sweep', 'cancel');
      await client.cancel(sweepId);
      return c.json({ id: sweepId, state: (await client.sweepResult(sweepId)).state }, 200);
    },
  );
  app.openapi(
    jsonRoute({ method: 'post', path: '/api/labs/{labId}/stop', summary: 'Stop a running lab session (as `reprise lab stop`): its files and cells are recorded', request: { params: s.LabIdParam, headers: CsrfHeaders }, response: s.ActionResult, errors: [...errors] }),
    async (c) => {
      const { labId } = c.req.valid('param');
      const labs = new LabClient(client);
      await assertRunning(deps, labId, 'lab', 'stop');
      await labs.stop(labId);
      return c.json({ id: labId, state: (await labs.result(labId)).state }, 200);
    },
  );
}

/** A run, sweep or lab of this project that is still running (404 when it is another's or unknown, 409 when it ended). */
async function assertRunning(deps: ApiDeps, id: string, what: 'run' | 'sweep' | 'lab', verb: 'cancel' | 'stop'): Promise<void> {
  const live = await ownLive(deps, id);
  if (!live) throw notFound(`no ${what} ${id} in this project`);
  if (!live.running) throw new NothingToDo(`${what} ${id} is not running; nothing to ${verb}`);
}

/** The HTTP status of an error a handler threw: the user's mistakes are 4xx with their one-line message. */
export function statusOf(err: unknown): 400 | 404 | 409 | 500 {
  if (err instanceof NothingToDo) return 409;
  if (err instanceof RepriseError) return err.kind === 'NotFound' ? 404 : err.kind === 'BadInput' ? 400 : 500;
  return 500;
}
