import { mkdir, writeFile, rename } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { badInput } from '../errors.js';
import { fileMemo } from '../file-memo.js';
import { paths } from '../config/env.js';
import { readYamlFile, toYaml } from '../config/yaml-file.js';
import { backendName, registryUrl } from '../config/names.js';
import { dashboardSettingsSchema, notifierName, notifierSchema, smtpSchema } from '../config/notifiers.js';
import type { ConfigIssue } from './definition.js';
import { temporalSettingsSchema } from '../config/temporal-tls.js';
import { buildSettingsSchema } from '../config/build-settings.js';
import { backendKinds, kindDefinition, runnableKinds, type KindSchemas } from './kinds.js';

export { backendName, registryUrl };
export type { BackendKind } from './kinds.js';

/**
 * Per-user configuration ($REPRISE_HOME/config.yaml). Backends live here, never in a project,
 * so credentials and host names are not committed or synced. A backend's schema is its kind's
 * (src/backends/<kind>/definition.ts, listed in kinds.ts), told apart by `kind`: that is why this
 * file sits in backends/ and not in config/, which every backend imports.
 */
export const backendConfigSchema = z.discriminatedUnion('kind', backendKinds.map((d) => d.schema) as unknown as KindSchemas);
export type BackendConfig = z.infer<typeof backendConfigSchema>;

/** What this machine's worker accepts from workflow inputs it did not start (docs/security.md, "Workflow inputs"). */
export const workerSettingsSchema = z
  .object({
    /**
     * The git remotes whose team runs this worker executes, as patterns ("*" any characters but
     * "/", "**" any characters). None: team runs are refused.
     */
    allowedRemotes: z.array(z.string().min(1).regex(/^[^-\s]\S*$/, 'a remote URL pattern (no spaces, not starting with "-")')).default([]),
  })
  .strict();
export type WorkerSettings = z.infer<typeof workerSettingsSchema>;

export const userConfigSchema = z
  .object({
    backends: z.record(backendName, backendConfigSchema).default({}),
    registry: z.object({ url: registryUrl }).strict().optional(),
    build: buildSettingsSchema.optional(),
    worker: workerSettingsSchema.optional(),
    /** Who hears when a run ends (config/notifiers.ts): read by the worker when it sends. */
    notifiers: z.record(notifierName, notifierSchema).optional(),
    smtp: smtpSchema.optional(),
    dashboard: dashboardSettingsSchema.optional(),
    /** TLS / API key for the Temporal server at TEMPORAL_ADDRESS (docs/security.md). */
    temporal: temporalSettingsSchema.optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    for (const issue of backendIssues(config.backends)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['backends', issue.backend, ...issue.path], message: issue.message });
    }
    for (const [name, notifier] of Object.entries(config.notifiers ?? {})) {
      if (notifier.backend && !allBackends(config)[notifier.backend]) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['notifiers', name, 'backend'], message: `"${notifier.backend}" is not a configured backend` });
      }
    }
  });
export type UserConfig = z.infer<typeof userConfigSchema>;

/** The embedded default: the local Docker engine, always available under this name. */
export const DEFAULT_BACKEND = 'local';
const builtInBackends: Record<string, BackendConfig> = { [DEFAULT_BACKEND]: { kind: 'docker' } };

export async function loadUserConfig(home: string): Promise<UserConfig> {
  const file = paths.userConfig(home);
  if (!existsSync(file)) return { backends: {} };
  return readYamlFile(file, userConfigSchema, file);
}

/** loadUserConfig for a long-lived process (the worker): read again only when the file changed (file-memo.ts). */
export function userConfigReader(home: string): () => Promise<UserConfig> {
  const read = fileMemo(() => loadUserConfig(home));
  return () => read(paths.userConfig(home));
}

export async function saveUserConfig(home: string, config: UserConfig): Promise<void> {
  const file = paths.userConfig(home);
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, toYaml(config), { mode: 0o600 });
  await rename(tmp, file);
}

/** What is wrong between the backends (a pool naming an unknown backend or a pool), backend by backend. */
export function backendIssues(configured: Record<string, BackendConfig>): BackendIssue[] {
  const backends = { ...builtInBackends, ...configured };
  return Object.entries(configured).flatMap(([name, config]) =>
    (kindDefinition(config.kind)?.validate?.(config, { name, backends, runnableKinds }) ?? []).map((issue) => ({ backend: name, ...issue })),
  );
}
export type BackendIssue = ConfigIssue & { backend: string };

/** The backends that name this one (pools it is a member of). */
export function backendsUsing(config: UserConfig, name: string): { name: string; config: BackendConfig }[] {
  return Object.entries(config.backends)
    .filter(([, c]) => kindDefinition(c.kind)?.uses?.(c).includes(name))
    .map(([user, c]) => ({ name: user, config: c }));
}

export function allBackends(config: UserConfig): Record<string, BackendConfig> {
  return { ...builtInBackends, ...config.backends };
}

export function resolveBackend(config: UserConfig, name: string): { name: string; config: BackendConfig } {
  const backends = allBackends(config);
  const found = backends[name];
  if (!found) {
    throw badInput(`unknown backend "${name}"; known backends: ${Object.keys(backends).sort().join(', ')} (add one with: reprise backend add)`);
  }
  return { name, config: found };
}
