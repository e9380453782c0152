import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { paths } from '../config/env.js';
import { backendUnavailable, ErrorKind, notFound, RepriseError } from '../errors.js';
import { Git, gitReason } from './git.js';
import { recordRun, type RecordInput } from './history.js';
import { withFileLock } from './lock.js';
import { remoteError } from './remotes.js';

/** The remote refused the record for good (a hook, a protected branch, credentials): retrying cannot help. */
export class PublishRefused extends RepriseError {
  constructor(message: string) {
    super(ErrorKind.backendUnavailable, message);
  }
}

/**
 * A worker's side of team mode: the project as its git remote has it. The worker keeps a bare
 * clone per remote under its REPRISE_HOME as a cache (lost, it is fetched again), reads specs
 * and exports sources from it, and publishes run records to the remote with compare-and-swap.
 */
export class PublishedProject {
  readonly root: string;
  private readonly git: Git;

  constructor(
    home: string,
    readonly remote: string,
    readonly branch: string,
  ) {
    this.root = paths.projectCache(home, createHash('sha256').update(remote).digest('hex').slice(0, 16));
    this.git = new Git(this.root);
  }

  /** The cache, holding `commit` (fetched from the remote when it does not yet). */
  async withCommit(commit: string): Promise<string> {
    if (!(await this.has(commit))) {
      await this.fetch();
      if (!(await this.has(commit))) {
        throw notFound(`source commit ${commit.slice(0, 12)} is not on ${this.branch.replace(/^refs\/heads\//, '')} of ${this.remote}; sync the project (reprise sync) and run again`);
      }
    }
    return this.root;
  }

  /**
   * The cache with every branch of the remote as the remote has it now (branches it no longer has
   * are pruned), holding `commits`: what a reuse lookup reads (project/run-key.ts indexes the
   * branch heads of the git directory), so a run recorded on any branch of the remote is found,
   * and a record this cache made that the remote refused is not.
   */
  async withAllBranches(...commits: string[]): Promise<string> {
    await this.locked(async () => {
      try {
        await this.git.run(['fetch', '--quiet', '--prune', '--no-tags', '--no-write-fetch-head', '--', this.remote, '+refs/heads/*:refs/heads/*']);
      } catch (err) {
        throw backendUnavailable(`the worker cannot reach the project's remote: ${remoteError(this.remote, err, 'fetch').message}`);
      }
    });
    for (const commit of commits) {
      if (!(await this.has(commit))) throw notFound(`commit ${commit.slice(0, 12)} is on no branch of ${this.remote}; sync the project (reprise sync) and run again`);
    }
    return this.root;
  }

  /**
   * Record the run on the remote's branch: build the record commit on the branch as fetched
   * now and push it without force. A push that loses the race to another writer (another
   * worker, someone's sync) is rejected by the remote as not a fast-forward; then fetch and
   * build again. A run the remote already has is not recorded twice.
   */
  async publish(input: Omit<RecordInput, 'branch'>): Promise<string> {
    const runId = input.record.runId;
    return this.locked(async () => {
      for (let attempt = 0; attempt < 50; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, 50 + Math.random() * 100 * Math.min(attempt, 10)));
        const tip = await this.fetchLocked();
        const commit = await recordRun(this.root, { ...input, branch: this.branch, bare: true });
        if (commit === tip || (await this.git.tryRun(['merge-base', '--is-ancestor', commit, tip])) !== undefined) return commit;
        try {
          await this.git.run(['push', '--quiet', '--', this.remote, `${commit}:${this.branch}`]);
          return commit;
        } catch (err) {
          // Lost the race: refused as not a fast-forward, or (moved between the remote's
          // advertisement and its update) "failed to update ref". Either way the tip moved.
          const stderr = String((err as { stderr?: string }).stderr ?? err);
          if (/\[rejected\].*\((fetch first|non-fast-forward)\)|failed to update ref|cannot lock ref/.test(stderr) || (await this.remoteTip()) !== tip) continue;
          const refused = remoteError(this.remote, err, 'push');
          if (!/refused/.test(refused.message)) throw refused; // unreachable: the caller retries
          // Kept in the cache, so an operator can still push it by hand: nothing is lost.
          const kept = `refs/reprise/unpublished/${runId}`;
          await this.git.run(['update-ref', kept, commit]);
          throw new PublishRefused(`the worker could not publish run ${runId}: ${refused.message}; its record commit ${commit.slice(0, 12)} is kept on the worker as ${kept} in ${this.root}`);
        }
      }
      throw backendUnavailable(`could not publish run ${runId}: ${this.branch} on ${this.remote} kept moving (50 attempts)`);
    });
  }

  /** The branch's tip as the remote says now (undefined when it cannot be asked). */
  private async remoteTip(): Promise<string | undefined> {
    const out = await this.git.tryRun(['ls-remote', '--', this.remote, this.branch]);
    return out?.split(/\s/)[0] || undefined;
  }

  async fetch(): Promise<string> {
    return this.locked(() => this.fetchLocked());
  }

  private async has(commit: string): Promise<boolean> {
    return (await this.git.tryRun(['cat-file', '-e', `${commit}^{commit}`])) !== undefined;
  }

  /** Concurrent runs of one worker share the cache: one fetch or publish at a time (and one init). */
  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    await mkdir(this.root, { recursive: true });
    return withFileLock(
      join(this.root, 'reprise-cache.lock'),
      async () => {
        if ((await this.git.tryRun(['rev-parse', '--is-bare-repository']))?.trim() !== 'true') await this.git.run(['init', '--quiet', '--bare']);
        return fn();
      },
      10 * 60_000,
    );
  }

  /** The remote's branch tip, with its history, as the cache's own branch (forced: the remote is the truth). */
  private async fetchLocked(): Promise<string> {
    try {
      await this.git.run(['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--', this.remote, `+${this.branch}:${this.branch}`]);
    } catch (err) {
      if (/couldn't find remote ref/i.test(gitReason(err))) {
        throw notFound(`${this.remote} has no branch ${this.branch.replace(/^refs\/heads\//, '')}; sync the project (reprise sync) and run again`);
      }
      throw backendUnavailable(`the worker cannot reach the project's remote: ${remoteError(this.remote, err, 'fetch').message}`);
    }
    return (await this.git.revParse(this.branch))!;
  }
}
