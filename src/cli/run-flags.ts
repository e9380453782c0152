import { Flags } from '@oclif/core';
import { parseDuration, parseGpus, parseMemory, RESOURCE_LIMITS, resourcesFromYaml, type Resources } from '../config/resources.js';
import { badInput } from '../errors.js';
import type { ProjectSpec } from '../project/schema.js';

export const resourceFlags = {
  cpus: Flags.string({ description: 'CPUs for the job (e.g. 2 or 0.5)' }),
  memory: Flags.string({ description: 'memory limit (e.g. 512M, 4G)' }),
  gpus: Flags.string({ description: 'GPUs for the job: N, or TYPE:N for one kind (e.g. 2 or a100:2)' }),
  time: Flags.string({ description: 'time limit (e.g. 90s, 30m, 1h, HH:MM:SS); the job is killed past it' }),
};

/** Flags override project.yaml's defaults; each value is checked here, at the edge. */
export function resolveResources(flags: { cpus?: string; memory?: string; gpus?: string; time?: string }, project: ProjectSpec): Resources {
  const defaults = resourcesFromYaml(project.resources);
  const wrap = <T>(flag: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw badInput(`--${flag}: ${(err as Error).message}`);
    }
  };
  const cpus = flags.cpus === undefined ? defaults.cpus : wrap('cpus', () => {
    const n = Number(flags.cpus);
    if (!Number.isFinite(n) || n <= 0 || n > RESOURCE_LIMITS.cpus) throw new Error(`invalid cpus "${flags.cpus}": give a positive number, at most ${RESOURCE_LIMITS.cpus}`);
    return n;
  });
  // A type comes with its count: --gpus 2 drops a project default of a100:1.
  const gpus = flags.gpus === undefined ? { gpus: defaults.gpus, gpuType: defaults.gpuType } : wrap('gpus', () => parseGpus(flags.gpus!));
  return {
    cpus,
    memoryBytes: flags.memory === undefined ? defaults.memoryBytes : wrap('memory', () => parseMemory(flags.memory!)),
    ...gpus,
    timeSeconds: flags.time === undefined ? defaults.timeSeconds : wrap('time', () => parseDuration(flags.time!)),
  };
}

export const reuseFlag = {
  reuse: Flags.boolean({
    allowNo: true,
    description: "record a succeeded run with the same key (source, image, command, data) instead of executing; --no-reuse overrides the project's reuse: true",
  }),
};

/** Whether a new run may reuse an identical one: the flag, else the project's `reuse` (team runs too: the worker looks on the remote). */
export function resolveReuse(flag: boolean | undefined, project: ProjectSpec): boolean {
  return flag ?? project.reuse?.enabled === true;
}
