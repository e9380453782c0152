import type { Connection } from '@temporalio/client';
import { spawn } from 'node:child_process';
import type { TeamRun } from '../activities/types.js';
import { backendQueue, type RepriseEnv } from '../config/env.js';
import { backendUnavailable, badInput } from '../errors.js';
import { Git } from '../project/git.js';
import { integrate } from '../project/merge.js';
import { defaultRemote, fetchRemote, updateTracking } from '../project/remotes.js';

/**
 * The client's side of team mode (REPRISE_TEAM=1; docs/architecture.md, "Team mode"): a run's
 * source goes to workers through the project's git remote, its image through the registry, and
 * its record comes back through the remote. Nothing of the client's disk is read by a worker.
 */

/** A poller seen this long ago is still alive: workers long-poll for up to about a minute. */
const POLLER_FRESH_MS = 90_000;

/** Fail within seconds when no worker serves the backend, instead of leaving the run queued forever. */
export async function assertWorkerServes(connection: Connection, env: RepriseEnv, backend: string): Promise<void> {
  const queue = backendQueue(env, backend);
  const res = await connection.workflowService.describeTaskQueue({ namespace: env.temporalNamespace, taskQueue: { name: queue }, taskQueueType: 1 });
  const now = Date.now();
  const fresh = (res.pollers ?? []).filter((p) => {
    const seconds = Number(p.lastAccessTime?.seconds ?? 0);
    return seconds === 0 || now - seconds * 1000 < POLLER_FRESH_MS;
  });
  if (fresh.length === 0) {
    throw backendUnavailable(
      `no worker serves backend "${backend}" at ${env.temporalAddress} (task queue ${queue}); start one where ${backend}'s credentials are: reprise worker --backends ${backend}`,
    );
  }
}

export function assertTeamEnv(env: RepriseEnv): void {
  if (!env.temporalAddress) throw badInput("team mode (REPRISE_TEAM) needs the team's Temporal server: set TEMPORAL_ADDRESS=host:port, or unset REPRISE_TEAM to run on this machine");
}

export type { TeamProgress } from './team-publish.js';

/**
 * Publish the run's source and image (team-publish.ts). Imported on demand: its Docker client
 * (dockerode, ssh2, a protobuf loader) cost every `reprise run` ~0.1 s of start-up, team or not.
 */
export async function publishRunInputs(...args: Parameters<typeof import('./team-publish.js').publishRunInputs>): Promise<TeamRun> {
  return (await import('./team-publish.js')).publishRunInputs(...args);
}

/**
 * Bring a published run's record into the local project: fetch the remote and, when the run's
 * branch is checked out, merge it (records never conflict). Returns the run's complete log.
 */
export async function pullRecord(root: string, team: Pick<TeamRun, 'branch'>, runId: string, commit: string): Promise<{ log: Buffer; merged: boolean }> {
  const git = new Git(root);
  const branch = team.branch.replace(/^refs\/heads\//, '');
  const remote = await defaultRemote(root, branch);
  const heads = await fetchRemote(root, remote);
  await updateTracking(root, remote, heads);
  let merged = false;
  if ((await git.headRef()) === team.branch && heads.get(branch)) {
    const result = await integrate(root, heads.get(branch), { message: `Sync with ${remote}/${branch}` });
    merged = !('conflicts' in result);
  }
  return { log: await showBytes(root, `${commit}:.reprise/activity/${runId}.log`), merged };
}

/** A blob's bytes as they are (a job's output need not be UTF-8). */
function showBytes(root: string, object: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['cat-file', 'blob', object], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : resolve(Buffer.alloc(0))));
  });
}
