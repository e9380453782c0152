// Team mode's publishing half (see team.ts): the run's source through the project's remote and
// its image through the registry. Loaded only by team runs: it brings in the Docker client.
import type { PreparedImage, TeamRun } from '../activities/types.js';
import type { RepriseEnv } from '../config/env.js';
import { loadUserConfig } from '../backends/user-config.js';
import { badInput } from '../errors.js';
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
import { checkedOutBranch } from '../project/merge.js';
import { defaultRemote, remoteUrl } from '../project/remotes.js';
import { sync } from '../project/sync.js';
import { loadProject } from '../project/layout.js';
import { trackForRun, trackedNotice } from '../data/run-data.js';
import { autoTrackBytes } from '../data/settings.js';
import { pushDataOfNewCommits } from '../data/store/transfer.js';
import { credentialFreeUrl } from '../redact.js';

export interface TeamProgress {
  onBuild?: (p: BuildProgress) => void;
  onTransfer?: OnTransfer;
  /** Said for each path tracked as data instead of going into git. */
  onTracked?: (line: string) => void;
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
  // What workers are sent (it stays in the workflow's history): no password, no HTTP user; a
  // worker fetches and pushes with its own git credentials.
  const url = credentialFreeUrl(await remoteUrl(root, remote));
  const config = await loadUserConfig(env.home);
  const registry = config.registry?.url;
  if (!options.rerun && !registry) {
    throw badInput('team mode needs a registry the workers pull images from; set one: reprise registry set HOST[:PORT][/PATH]');
  }
  if (options.rerun && !options.rerun.imageReference) {
    throw badInput(`run ${options.rerun.runId} used an image that was never pushed to a registry, so no worker can pull it; rerun it without REPRISE_TEAM`);
  }
  // As `reprise sync`: large new inputs become pointers, and the data goes to the store before
  // the commits that point at it, so a worker reads every byte from the store.
  const data = await trackForRun(root, autoTrackBytes((await loadProject(root)).spec));
  for (const t of data.tracked) options.onTracked?.(trackedNotice(t));
  const beforePush = async (head: string, theirs: string[]) => void (await pushDataOfNewCommits(root, head, theirs, options.onTransfer));
  const synced = await sync(root, { remote, home: env.home, untrack: data.untrack, beforePush });
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
