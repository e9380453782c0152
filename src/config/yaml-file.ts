import { readFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import type { z } from 'zod';
import { badInput } from '../errors.js';

/**
 * Parse and validate a YAML file; errors name the file and the key and say how to fix it.
 * `label` is how the user knows the file, e.g. ".reprise/project.yaml".
 */
export function parseYaml<S extends z.ZodTypeAny>(text: string, schema: S, label: string): z.output<S> {
  let data: unknown;
  try {
    data = parse(text) ?? {};
  } catch (err) {
    const line = (err as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    throw badInput(`${label} is not valid YAML${line ? ` (line ${line})` : ''}: ${firstLine(err)}; fix the file and retry`);
  }
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  throw badInput(`${label}: ${describeIssue(result.error.issues[0]!)}; fix the file and retry`);
}

export async function readYamlFile<S extends z.ZodTypeAny>(file: string, schema: S, label: string): Promise<z.output<S>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw badInput(`${label} is missing; restore it from git (git checkout -- ${label})`);
    throw err;
  }
  return parseYaml(text, schema, label);
}

export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0 });
}

function describeIssue(issue: z.ZodIssue): string {
  const key = issue.path.join('.');
  if (issue.code === 'unrecognized_keys') {
    const where = key ? ` under "${key}"` : '';
    return `unknown key "${issue.keys.join('", "')}"${where}`;
  }
  if (issue.code === 'invalid_type' && issue.received === 'undefined') return `missing key "${key}"`;
  return `key "${key || '(top level)'}": ${issue.message}`;
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split('\n')[0]!;
}
