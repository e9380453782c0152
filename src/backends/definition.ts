import { z } from 'zod';
import type { Backend, BackendHooks } from './types.js';

/**
 * A backend kind in one place: its config schema, the `backend add` flags that fill it, and how a
 * Backend is made from it. Definitions stay light (zod only): the user config and every CLI
 * command load them, so `create` imports the implementation (ssh2, client-node…) only when called.
 */
export interface BackendDefinition<K extends string = string, S extends KindSchema<K> = KindSchema<K>> {
  kind: K;
  /** A strict object whose `kind` is the literal K. */
  schema: S;
  /** `backend add` flags by name (without --), each filling one key of the config. */
  flags: Record<string, FlagSpec>;
  /** Checks that need the other backends of the config (a pool's members); none when absent. */
  validate?: (config: z.output<S>, context: KindContext) => ConfigIssue[];
  /** Other backends this one names: they cannot be removed while it does. */
  uses?: (config: z.output<S>) => string[];
  /** The settings that tell two backends of the kind apart, one short line for `backend list`. */
  describe: (config: z.output<S>) => string;
  /**
   * Checks of a new backend against this machine when `backend add` saves it (a file it names must
   * be usable): the one-line problem, if any. Not run when the config is loaded.
   */
  checkOnAdd?: (config: z.output<S>) => Promise<string | undefined>;
  /** The Backend runs go to; absent for a kind that is not one (a pool is resolved by the workflow). */
  create?: (config: z.output<S>, hooks: BackendHooks) => Promise<Backend>;
}

export type KindSchema<K extends string = string> = z.ZodObject<{ kind: z.ZodLiteral<K> } & z.ZodRawShape, 'strict'>;

/** A `backend add` flag: the config key its value goes to, and how oclif parses it. */
export type FlagSpec = { key: string; description: string } & (
  | { type: 'string'; options?: readonly string[]; multiple?: boolean }
  | { type: 'integer'; min?: number; max?: number }
  | { type: 'number' }
);

export interface KindContext {
  /** The backend being checked. */
  name: string;
  /** Every backend of the user config, the built-in ones included. */
  backends: Record<string, { kind: string }>;
  /** The kinds with a Backend of their own (a run can go to them directly). */
  runnableKinds: readonly string[];
}

/** A problem in one backend's config; `path` is relative to it (e.g. ['members']). */
export interface ConfigIssue {
  path: (string | number)[];
  message: string;
}

/** Identity, so each definition's config type is inferred from its schema. */
export function defineBackend<K extends string, S extends KindSchema<K>>(definition: BackendDefinition<K, S>): BackendDefinition<K, S> {
  return definition;
}

/**
 * What every kind with a Backend takes: how many of its jobs may run at once across all runs and
 * sweeps (enforced by the workflows; absent: no limit of Reprise's own).
 */
export const runnableShape = {
  maxParallel: z
    .number({ invalid_type_error: 'must be a whole number of jobs, at least 1' })
    .int('must be a whole number of jobs, at least 1')
    .min(1, 'must be a whole number of jobs, at least 1')
    .optional(),
};

export const runnableFlags: Record<string, FlagSpec> = {
  'max-parallel': { key: 'maxParallel', type: 'integer', description: "how many of this backend's jobs may run at once, across all runs and sweeps (default: no limit)" },
};


/**
 * How a cluster gets the objects of a run's tracked inputs into its own data cache: `store`
 * (default) has it fetch them from the project's data store by presigned URL, shipping from the
 * worker only what the store lacks or when the cluster cannot reach it; `ship` always sends them
 * from the worker (a cluster with no route to the store). `dataEndpoint` is the store's address
 * as the cluster reaches it, when not the project's endpoint.
 */
export const dataStagingShape = {
  dataStaging: z.enum(['store', 'ship']).optional(),
  dataEndpoint: z
    .string()
    .regex(/^https?:\/\/[^\s/?#@]+$/, 'must be the data store endpoint as the cluster reaches it: http(s)://host[:port]')
    .optional(),
};

export const dataStagingFlags: Record<string, FlagSpec> = {
  'data-staging': { key: 'dataStaging', type: 'string', options: ['store', 'ship'], description: "how tracked inputs reach the cluster's data cache: fetched from the data store by the cluster (default) or shipped from the worker" },
  'data-endpoint': { key: 'dataEndpoint', type: 'string', description: 'the data store endpoint as the cluster reaches it (default: the project data remote endpoint)' },
};
