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
}

export function readEnv(env: NodeJS.ProcessEnv = process.env): RepriseEnv {
  return {
    home: env.REPRISE_HOME || join(homedir(), '.reprise'),
    temporalAddress: env.TEMPORAL_ADDRESS || undefined,
    temporalNamespace: env.TEMPORAL_NAMESPACE || 'default',
    taskQueue: env.REPRISE_TASK_QUEUE || 'reprise',
    embeddedPort: Number(env.REPRISE_TEMPORAL_PORT || 7233),
    embeddedUiPort: Number(env.REPRISE_TEMPORAL_UI_PORT || 8233),
  };
}

export const paths = {
  userConfig: (home: string) => join(home, 'config.yaml'),
  agentDir: (home: string) => join(home, 'agent'),
  runDir: (home: string, runId: string) => join(home, 'runs', runId),
  /** The environment lock captured from a local image, by image id (a cache: recaptured when missing). */
  imageLock: (home: string, imageId: string) => join(home, 'images', `${imageId.replace(/^sha256:/, '')}.lock`),
};

/** `~/x` → `<home>/x` on this machine (config paths are written the way users type them). */
export const expandHome = (path: string) => (path === '~' || path.startsWith('~/') ? homedir() + path.slice(1) : path);
