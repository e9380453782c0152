import type { BackendDefinition } from './definition.js';
import { dockerDefinition } from './docker/definition.js';
import { kubernetesDefinition } from './kubernetes/definition.js';
import { poolDefinition } from './pool/definition.js';
import { slurmDefinition } from './slurm/definition.js';

/**
 * Every backend kind. Adding one is a folder with a definition.ts and a line here: the user
 * config schema, `backend add` and createBackend are derived from this list.
 */
export const backendKinds = [dockerDefinition, slurmDefinition, kubernetesDefinition, poolDefinition] as const;

type Kinds = typeof backendKinds;
/** The kinds' schemas as a tuple, the shape z.discriminatedUnion takes. */
export type KindSchemas = SchemasOf<Kinds>;
type SchemasOf<T extends readonly unknown[]> = { -readonly [I in keyof T]: T[I] extends { schema: infer S } ? S : never };
export type BackendKind = Kinds[number]['kind'];

/** The kinds a run can go to directly: those with a Backend of their own. */
export const runnableKinds: readonly string[] = backendKinds.filter((d) => d.create).map((d) => d.kind);

/** The definition of a kind, typed loosely: the caller holds a config already validated by it. */
export function kindDefinition(kind: string): BackendDefinition | undefined {
  return backendKinds.find((d) => d.kind === kind) as BackendDefinition | undefined;
}
