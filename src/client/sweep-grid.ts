import type { SweepPoint } from '../activities/types.js';
import { badInput } from '../errors.js';

/** The largest grid a sweep takes: each point is a workflow and a commit. */
export const MAX_POINTS = 10_000;

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]{0,63})\}/g;
const RANGE = /^(-?\d+)\.\.(-?\d+)(?::(\d+))?$/;

/**
 * `--param` values, in the order given: `name=v1,v2,…` or an integer range `name=1..5`
 * (`name=0..100:10` with a step). Values are taken literally (never through a shell).
 */
export function parseParams(specs: readonly string[]): Record<string, string[]> {
  if (specs.length === 0) throw badInput('no --param given: a sweep needs at least one, e.g. --param lr=0.1,0.01');
  const params: Record<string, string[]> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const name = eq < 0 ? spec : spec.slice(0, eq);
    if (eq < 0 || !NAME.test(name)) throw badInput(`invalid --param ${JSON.stringify(spec)}: write name=v1,v2 or name=1..5 (a name is letters, digits and _)`);
    if (name in params) throw badInput(`--param ${name} is given twice: list all its values in one, e.g. --param ${name}=a,b`);
    const values = parseValues(spec.slice(eq + 1));
    if (values.length === 0) throw badInput(`--param ${name} has no values: give at least one, e.g. --param ${name}=1,2`);
    if (values.includes('')) throw badInput(`--param ${name} has an empty value: remove the extra comma`);
    if (new Set(values).size !== values.length) throw badInput(`--param ${name} repeats a value: each value once`);
    params[name] = values;
  }
  return params;
}

function parseValues(text: string): string[] {
  const range = RANGE.exec(text);
  if (range) {
    const [from, to, step] = [Number(range[1]), Number(range[2]), Number(range[3] ?? 1)];
    if (step < 1) throw badInput(`invalid range ${text}: the step must be at least 1`);
    if (to < from) throw badInput(`invalid range ${text}: it counts up, from the smaller number`);
    if ((to - from) / step >= MAX_POINTS) throw badInput(`range ${text} has more than ${MAX_POINTS} values`);
    const out: string[] = [];
    for (let v = from; v <= to; v += step) out.push(String(v));
    return out;
  }
  return text === '' ? [] : text.split(',');
}

/**
 * Every point of the grid (the first parameter varies slowest), the placeholders of each argv
 * element replaced. Every placeholder must have a parameter and every parameter a placeholder.
 */
export function expandGrid(template: readonly string[], params: Record<string, string[]>): SweepPoint[] {
  const used = new Set<string>();
  for (const arg of template) for (const m of arg.matchAll(PLACEHOLDER)) used.add(m[1]!);
  for (const name of used) {
    if (!(name in params)) throw badInput(`the command uses {${name}} but no --param ${name} is given: add --param ${name}=…`);
  }
  for (const name of Object.keys(params)) {
    if (!used.has(name)) throw badInput(`--param ${name} is not used by the command: put {${name}} where its value goes`);
  }
  const names = Object.keys(params);
  const total = names.reduce((n, name) => n * params[name]!.length, 1);
  if (total > MAX_POINTS) throw badInput(`the grid has ${total} points, more than ${MAX_POINTS}: sweep fewer values`);
  const points: SweepPoint[] = [];
  for (let index = 0; index < total; index++) {
    const values: Record<string, string> = {};
    let rest = index;
    for (let i = names.length - 1; i >= 0; i--) {
      const list = params[names[i]!]!;
      values[names[i]!] = list[rest % list.length]!;
      rest = Math.floor(rest / list.length);
    }
    const ordered = Object.fromEntries(names.map((n) => [n, values[n]!]));
    points.push({ index, params: ordered, command: template.map((arg) => arg.replace(PLACEHOLDER, (_, name: string) => values[name]!)) });
  }
  return points;
}
