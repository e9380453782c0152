import type { Connection } from '@temporalio/client';
import { spawn } from 'node:child_process';
import type { PreparedImage, TeamRun } from '../activities/types.js';
import { backendQueue, type RepriseEnv } from '../config/env.js';
import { loadUserConfig } from '../config/user-config.js';
import { backendUnavailable, badInput } from '../errors.js';
import { findEnvironmentImage, type BuildProgress } from '../images/build.js';
import { buildTrustNotes, resolveBuildTrust } from '../images/build-trust.js';
import { specHash } from '../images/lock.js';
import { imageLock } from '../images/lock-capture.js';
import { dockerClient } from '../images/engine.js';
import { buildPlanned, plannedBuildAt } from '../images/locked-build.js';
import { pushImage } from '../images/registry.js';
import type { OnTransfer } from '../images/transfer-progress.js';
import { specsAt } from '../project/environment-at.js';
import { Git } from '../project/git.js';
import { checkedOutBranch, integrate } from '../project/merge.js';
import { defaultRemote, fetchRemote, remoteUrl, updateTracking } from '../project/remotes.js';
import { sync } from '../project/sync.js';

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

export interface TeamProgress {
  onBuild?: (p: BuildProgress) => void;
  onTransfer?: OnTransfer;
  /** Said once the project is synced (pushed) to its remote. */
  onSynced?: (remote: string, branch: string, pushed: boolean) => void;
}

/**
 * Publish the run's source (sync: pending edits swept into a commit, merged with the remote,
 * pushed) and its image (built here at that commit, pushed by digest). A rerun publishes the
 * branch too and reuses the recorded image, which must be in a registry.
 */
export async function publishRunInputs(
  env: RepriseEnv,
  root: string,
  options: { rerun?: { sourceCommit: string; imageDigest: string; imageReference?: string; runId: string } } & TeamProgress,
): Promise<TeamRun> {
  const git = new Git(root);
  const branch = await checkedOutBranch(git).catch(() => {
    throw badInput('team mode records runs on a branch of the remote, and HEAD is detached; switch to a branch first: reprise branch switch NAME');
  });
  const remote = await defaultRemote(root, branch).catch((err: unknown) => {
    if (/has no remote/.test((err as Error).message)) {
      throw badInput('team mode (REPRISE_TEAM) runs a project through its git remote, and this project has none; add one the workers can reach: reprise remote add origin URL (or unset REPRISE_TEAM to run here)');
    }
    throw err;
  });
  const url = await remoteUrl(root, remote);
  const config = await loadUserConfig(env.home);
  const registry = config.registry?.url;
  if (!options.rerun && !registry) {
    throw badInput('team mode needs a registry the workers pull images from; set one: reprise registry set HOST[:PORT][/PATH]');
  }
  if (options.rerun && !options.rerun.imageReference) {
    throw badInput(`run ${options.rerun.runId} used an image that was never pushed to a registry, so no worker can pull it; rerun it without REPRISE_TEAM`);
  }
  const synced = await sync(root, { remote });
  options.onSynced?.(remote, branch, synced.pushed);
  const sourceCommit = options.rerun?.sourceCommit ?? synced.head;
  const { project, environment } = await specsAt(root, sourceCommit);
  const planned = await plannedBuildAt(root, sourceCommit, project.name, environment);
  let image: PreparedImage;
  let lock: string | undefined;
  if (options.rerun) {
    image = { digest: options.rerun.imageDigest, reference: options.rerun.imageReference, environment: planned.envHash, reused: true };
  } else {
    const docker = dockerClient();
    const trust = await resolveBuildTrust(config.build);
    const found = await findEnvironmentImage(docker, planned.tag, planned.envHash);
    const built = found ?? (await buildPlanned(docker, { ...planned, trust, onProgress: options.onBuild }));
    const reference = await pushImage(docker, registry!, built, options.onTransfer);
    image = { digest: built.digest, tag: built.tag, reference, environment: planned.envHash, reused: Boolean(found) || built.reused };
    // Captured here, where the image is: the worker records it without needing Docker.
    lock = await imageLock(docker, env.home, built.digest, { base: environment.base, environment: specHash(environment), buildNotes: buildTrustNotes(trust) }).catch(() => undefined);
  }
  return { remote: url, branch: `refs/heads/${branch}`, sourceCommit, image, ...(lock === undefined ? {} : { lock }) };
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
