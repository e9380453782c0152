import { badInput } from '../../errors.js';
import { resolveBackend, type BackendConfig, type UserConfig } from '../user-config.js';
import { queueWaitSeconds, type PoolConfig } from './definition.js';

/** A member of a pool: a backend a run can go to directly (never a pool). */
export type PoolMember = { name: string; config: Exclude<BackendConfig, PoolConfig> };

/** A pool as the workflow uses it: members in order, the wait in seconds. */
export interface ResolvedPool {
  name: string;
  members: PoolMember[];
  maxQueueWaitSeconds: number;
  /** The member tried first, when not the first one. */
  prefer?: string;
}

/** The pool `name` of a loaded (so validated) user config; bad input if it is no pool. */
export function resolvePool(config: UserConfig, name: string): ResolvedPool {
  const pool = resolveBackend(config, name).config;
  if (pool.kind !== 'pool') throw badInput(`backend "${name}" is a ${pool.kind} backend, not a pool`);
  const members = pool.members.map((member) => {
    const resolved = resolveBackend(config, member);
    if (resolved.config.kind === 'pool') throw badInput(`pool "${name}" names "${member}", itself a pool; a pool's members run jobs themselves`);
    return { name: member, config: resolved.config };
  });
  const maxQueueWaitSeconds = queueWaitSeconds(pool.maxQueueWait);
  if (maxQueueWaitSeconds === undefined) throw badInput(`pool "${name}": invalid maxQueueWait "${pool.maxQueueWait}"`);
  return { name, members, maxQueueWaitSeconds, ...(pool.prefer !== undefined && { prefer: pool.prefer }) };
}
