import { homedir } from 'node:os';
import { join } from 'node:path';

/** Settings that come from the environment (documented in docs/configuration.md). */
export interface RepriseEnv {
  home: string;
  temporalAddress?: string;
  temporalNamespace: string;
  taskQueue: string;
  embeddedPort: number;
  embeddedUiPort: number;
  /**
   * Team mode (REPRISE_TEAM=1): runs go to `reprise worker`s of a shared Temporal server, the
   * project through its git remote and the image through the registry (docs/architecture.md).
   */
  team: boolean;
  /**
   * The embedded agent keeps other local accounts out (REPRISE_AGENT_ISOLATION, default on;
   * client/agent-isolation.ts). Off: its Temporal listens on 127.0.0.1 for everyone, as before.
   */
  agentIsolation: boolean;
  /** Temporal's own TLS / API key variables (config/temporal-tls.ts), used with TEMPORAL_ADDRESS. */
  temporalAuthEnv: Record<string, string | undefined>;
}

export function readEnv(env: NodeJS.ProcessEnv = process.env): RepriseEnv {
  return {
    home: env.REPRISE_HOME || join(homedir(), '.reprise'),
    temporalAddress: env.TEMPORAL_ADDRESS || undefined,
    temporalNamespace: env.TEMPORAL_NAMESPACE || 'default',
    taskQueue: env.REPRISE_TASK_QUEUE || 'reprise',
    embeddedPort: Number(env.REPRISE_TEMPORAL_PORT || 7233),
    embeddedUiPort: Number(env.REPRISE_TEMPORAL_UI_PORT || 8233),
    team: ['1', 'true', 'yes'].includes((env.REPRISE_TEAM ?? '').toLowerCase()),
    agentIsolation: !['0', 'off', 'false', 'no'].includes((env.REPRISE_AGENT_ISOLATION ?? '').toLowerCase()),
    temporalAuthEnv: Object.fromEntries(Object.entries(env).filter(([k]) => k === 'TEMPORAL_API_KEY' || k.startsWith('TEMPORAL_TLS'))),
  };
}

/**
 * The task queue of a backend's runs in team mode: only workers holding that backend's
 * credentials poll it (`reprise worker --backends NAME`), so a run cannot land anywhere else.
 */
export const backendQueue = (env: Pick<RepriseEnv, 'taskQueue'>, backend: string) => `${env.taskQueue}.${backend}`;

export const paths = {
  /** REPRISE_CONFIG names another file (a worker's config mounted from a Kubernetes Secret). */
  userConfig: (home: string) => process.env.REPRISE_CONFIG || join(home, 'config.yaml'),
  agentDir: (home: string) => join(home, 'agent'),
  runDir: (home: string, runId: string) => join(home, 'runs', runId),
  /** A worker's clone of a project it reached through its git remote (a cache: fetched again when missing). */
  projectCache: (home: string, key: string) => join(home, 'projects', `${key}.git`),
  /** The environment lock captured from a local image, by image id (a cache: recaptured when missing). */
  imageLock: (home: string, imageId: string) => join(home, 'images', `${imageId.replace(/^sha256:/, '')}.lock`),
};

/** Files an agent keeps per run in paths.runDir: the worker writes them, the CLI and the dashboard read them. */
export const BUILD_LOG = 'build.log';
export const JOB_LOG = 'job.log';
/** Progress of image transfers (push, pull, upload) while the run prepares; see images/transfer-progress.ts. */
export const TRANSFER_LOG = 'transfer.log';
/** In a run's directory: the large outputs the backend sent to the data store itself (JSON list of path, md5, size). */
export const STORED_OUTPUTS = 'stored-outputs.json';
/** In a run's directory: the large outputs the data store could not take when the run ended (JSON RunData['unsent']). */
export const UNSENT_OUTPUTS = 'unsent-outputs.json';
/** In a run's directory: what staging its tracked inputs moved (DataStaged), on a backend that stages them by digest. */
export const DATA_STAGED = 'data-staged.json';

/** `~/x` → `<home>/x` on this machine (config paths are written the way users type them). */
export const expandHome = (path: string) => (path === '~' || path.startsWith('~/') ? homedir() + path.slice(1) : path);
