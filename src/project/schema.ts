import { z } from 'zod';
import { resourcesSchema } from '../config/resources.js';

/** The resources a project may declare as changing its results (part of the run key). */
export const keyedResources = ['cpus', 'memory', 'gpus', 'time'] as const;

/**
 * Reuse of identical runs (project/run-key.ts): `reuse: true` is short for `{ enabled: true }`.
 * `never`: globs matched against the command line (its argv joined by spaces).
 */
const reuseSchema = z.preprocess(
  (v) => (typeof v === 'boolean' ? { enabled: v } : v),
  z
    .object(
      {
        enabled: z.boolean().optional(),
        perBackend: z.boolean().optional(),
        never: z.array(z.string().min(1, 'a glob must not be empty').max(4096)).optional(),
        resources: z.array(z.enum(keyedResources)).optional(),
      },
      { invalid_type_error: 'use true, false or a mapping with enabled, perBackend, never, resources' },
    )
    .strict(),
);
export type ReuseSettings = z.infer<typeof reuseSchema>;

export const projectSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'use lowercase letters, digits, ".", "_" or "-" (at most 63)'),
    id: z.string().min(1),
    backend: z.string().optional(),
    resources: resourcesSchema.optional(),
    /** Datasets (src/data): files under input/ larger than autoTrack bytes are tracked, not committed. */
    data: z.object({ autoTrack: z.number().int().nonnegative() }).strict().optional(),
    reuse: reuseSchema.optional(),
  })
  .strict();
export type ProjectSpec = z.infer<typeof projectSchema>;

const packageSpec = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+\-[\],]*(?:(?:==|>=|<=|~=|=)[A-Za-z0-9._+\-*:~]+)?$/, 'not a package name (name or name==version)');

export const environmentSchema = z
  .object({
    base: z.string().min(1),
    packages: z
      .object({
        apt: z.array(packageSpec).default([]),
        pip: z.array(packageSpec).default([]),
        conda: z.array(packageSpec).default([]),
      })
      .strict()
      .default({}),
    /** Custom Dockerfile lines, appended after the packages. */
    dockerfile: z.array(z.string()).default([]),
    /** Build with the exact versions in .reprise/environment.lock (images/lock.ts); part of the hash. */
    locked: z.boolean().optional(),
  })
  .strict();
export type EnvironmentSpec = z.infer<typeof environmentSchema>;
export type PackageManager = keyof EnvironmentSpec['packages'];
export const packageManagers: PackageManager[] = ['apt', 'pip', 'conda'];
