import { appendFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { Backend, BackendHooks } from '../backends/types.js';
import { transferLine, type OnTransfer } from '../images/transfer-progress.js';
import { DATA_STAGED, paths, TRANSFER_LOG } from '../config/env.js';
import { resolveBackend, userConfigReader, type BackendConfig } from '../backends/user-config.js';
import type { Logger } from '../logger.js';
import { specsAt } from '../project/environment-at.js';
import { stagedLine } from './data-staging.js';
import { projectReader } from '../project/layout.js';
import { exportSources } from '../project/history.js';
import { PublishedProject } from '../project/published.js';
import type { PreparedImage, RunInput, TeamRun } from './types.js';

export interface ActivityDeps {
  home: string;
  logger: Logger;
  /** The engine images are built on (local Docker). */
  docker: Docker;
  createBackend: (config: BackendConfig, hooks?: BackendHooks) => Promise<Backend>;
  /** How often awaitJob polls the backend. */
  pollIntervalMs?: number;
  /** Who this worker is: recorded in the team-mode runs it publishes. */
  workerIdentity?: string;
  /** A team worker's backends (`reprise worker --backends`): it refuses every other backend and any local project. */
  servedBackends?: string[];
}

/**
 * What every step of a run shares on this worker: the run's directory and logger, the backends
 * (one instance per name while its config is unchanged), the runs it has seen and the team
 * projects it publishes to.
 */
export function createRunContext(deps: ActivityDeps) {
  const runDir = (runId: string) => paths.runDir(deps.home, runId);
  const log = (input: RunInput) => deps.logger.child({ runId: input.runId, backend: input.backend });
  const pollMs = deps.pollIntervalMs ?? 1000;
  // Every step of every run asks for these: parsed once, again only when the file changes.
  const userConfig = userConfigReader(deps.home);
  const project = projectReader();

  /** The project's id (which keys its secrets): from the source commit a team run publishes, else the project's own file. */
  async function projectIdOf(input: RunInput): Promise<string> {
    if (!input.team) return (await project(input.projectRoot)).spec.id;
    const { sourceCommit } = input.team;
    return (await specsAt(await rootOf(input, sourceCommit), sourceCommit)).project.id;
  }

  /** The runs this worker has seen, so a backend can have their sources again (restoreSources). */
  const runs = new Map<string, RunInput>();
  const seen = (input: RunInput) => runs.set(input.runId, input);
  const published = (team: TeamRun) => new PublishedProject(deps.home, team.remote, team.branch);

  /** The repository the run's commits are read from: the user's project, or (team mode) this worker's cache of its remote. */
  const rootOf = (input: Pick<RunInput, 'projectRoot' | 'team'>, commit: string): Promise<string> => (input.team ? published(input.team).withCommit(commit) : Promise.resolve(input.projectRoot));

  /** The source commit's files in the run's directory, output/ empty, ready to hand to a backend. */
  async function exportStaged(input: RunInput, sourceCommit: string): Promise<string> {
    const sourcesDir = join(runDir(input.runId), 'src');
    await rm(sourcesDir, { recursive: true, force: true });
    await exportSources(await rootOf(input, sourceCommit), sourceCommit, sourcesDir);
    // A run starts with an empty output/: what is there afterwards is what it produced.
    await rm(join(sourcesDir, 'output'), { recursive: true, force: true });
    await mkdir(join(sourcesDir, 'output'), { recursive: true, mode: 0o777 });
    return sourcesDir;
  }

  const hooks: BackendHooks = {
    onDataStaged: (runId, staged) => {
      deps.logger.info({ runId, data: staged }, stagedLine(staged));
      writeFile(join(runDir(runId), DATA_STAGED), JSON.stringify(staged)).catch(() => undefined);
    },
    restoreSources: async (runId) => {
      const input = runs.get(runId);
      if (!input?.team) throw new Error(`the staged sources of run ${runId} are gone from this worker and it cannot fetch them again (not a team run)`);
      return exportStaged(input, input.team.sourceCommit);
    },
  };

  // One backend instance per name while its config is unchanged, so connections (SSH) are reused.
  const backends = new Map<string, { key: string; backend: Promise<Backend> }>();
  async function backendFor(name: string): Promise<{ backend: Backend; kind: string }> {
    const { config } = resolveBackend(await userConfig(), name);
    const key = JSON.stringify(config);
    let cached = backends.get(name);
    if (cached?.key !== key) {
      cached = { key, backend: deps.createBackend(config, hooks) };
      backends.set(name, cached);
    }
    return { backend: await cached.backend, kind: config.kind };
  }

  /** Appends transfer progress to the run's transfer log for the CLI's bar, at most once per MiB. */
  async function transferLog(runId: string): Promise<OnTransfer> {
    await mkdir(runDir(runId), { recursive: true });
    const file = join(runDir(runId), TRANSFER_LOG);
    let last = '';
    return (p) => {
      const mark = `${p.what}:${Math.floor(p.current / 2 ** 20)}:${p.total}`;
      if (mark === last) return;
      last = mark;
      void appendFile(file, transferLine(p)).catch(() => undefined);
    };
  }

  /** Flag an image that publishImage must push: the user has a registry (without one the workflow skips that step). */
  async function withPushFlag(image: PreparedImage): Promise<PreparedImage> {
    return (await userConfig()).registry?.url ? { ...image, unpublished: true } : image;
  }

  return { deps, runDir, log, pollMs, userConfig, project, projectIdOf, runs, seen, published, rootOf, exportStaged, hooks, backendFor, transferLog, withPushFlag };
}

export type RunContext = ReturnType<typeof createRunContext>;
