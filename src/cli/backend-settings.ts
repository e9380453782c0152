import { Flags } from '@oclif/core';
import type { z } from 'zod';
import type { BackendDefinition, FlagSpec } from '../backends/definition.js';
import { backendKinds } from '../backends/kinds.js';
import type { BackendIssue } from '../backends/user-config.js';

/** Every kind's `backend add` flags, once each; a flag several kinds take (--max-parallel) names them all. */
export const kindFlags: ReadonlyMap<string, { spec: FlagSpec; kinds: string[] }> = (() => {
  const merged = new Map<string, { spec: FlagSpec; kinds: string[] }>();
  for (const definition of backendKinds) {
    for (const [name, spec] of Object.entries(definition.flags as Record<string, FlagSpec>)) {
      const seen = merged.get(name);
      if (seen && seen.spec.type !== spec.type) throw new Error(`--${name} is a ${seen.spec.type} flag of ${seen.kinds.join(', ')} and a ${spec.type} flag of ${definition.kind}`);
      if (seen) seen.kinds.push(definition.kind);
      else merged.set(name, { spec, kinds: [definition.kind] });
    }
  }
  return merged;
})();

/** The oclif flags of `backend add`: --kind and every kind's own. */
export function backendAddFlags() {
  const own: Record<string, ReturnType<typeof oclifFlag>> = {};
  for (const [name, { spec, kinds }] of kindFlags) own[name] = oclifFlag(spec, `${kinds.join(', ')}: ${spec.description}`);
  return { kind: Flags.string({ description: 'backend kind', options: backendKinds.map((d) => d.kind), required: true }), ...own };
}

function oclifFlag(spec: FlagSpec, description: string) {
  if (spec.type === 'integer') return Flags.integer({ description, min: spec.min, max: spec.max });
  // Range errors come from the kind's schema, which names the setting.
  if (spec.type === 'number') return Flags.custom<number>({ description, parse: async (s) => Number(s) })();
  const options = spec.options ? [...spec.options] : undefined;
  return spec.multiple ? Flags.string({ description, options, multiple: true }) : Flags.string({ description, options });
}

/**
 * The config a kind's flags describe, or the one-line reason it cannot be made: a setting the
 * kind refuses or lacks first, then flags of other kinds (as the schema would order them).
 */
export function settingsFromFlags(definition: BackendDefinition, flags: Record<string, unknown>): { config: z.output<BackendDefinition['schema']> } | { error: string } {
  // Flags not given are left out, so the strict schema only sees what the user set.
  const given: Record<string, unknown> = { kind: definition.kind };
  for (const [name, spec] of Object.entries(definition.flags)) if (flags[name] !== undefined) given[spec.key] = flags[name];
  const parsed = definition.schema.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { error: invalidSetting(definition, issue.path, issue.message) };
  }
  const foreign = [...kindFlags.keys()].filter((name) => !(name in definition.flags) && flags[name] !== undefined);
  if (foreign.length) return { error: `${foreign.map((f) => `--${f}`).join(', ')} does not apply to --kind ${definition.kind}; leave it out` };
  return { config: parsed.data };
}

/** A problem between backends found once `name` is in the config (backendIssues), said in flags. */
export function describeBackendIssue(definition: BackendDefinition, name: string, issue: BackendIssue, kindOf: (backend: string) => string): string {
  if (issue.backend === name) return invalidSetting(definition, issue.path, issue.message);
  return `cannot add "${name}" as a ${definition.kind}: ${kindOf(issue.backend)} "${issue.backend}" ${issue.message}`;
}

function invalidSetting(definition: BackendDefinition, path: (string | number)[], message: string): string {
  const flag = path.length ? ` ${flagFor(definition, path)}` : '';
  // zod quotes the value it refused ("received 'debug\n#SBATCH …'"): its line breaks are shown escaped, so the error stays one line.
  const said = message === 'Required' ? 'is required' : message.replace(/\r/g, '\\r').replace(/\n/g, '\\n');
  return `invalid backend settings for --kind ${definition.kind}:${flag} ${said}`;
}

function flagFor(definition: BackendDefinition, path: (string | number)[]): string {
  const flag = Object.entries(definition.flags).find(([, spec]) => spec.key === path[0])?.[0];
  return `--${flag ?? path.join('.').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}
