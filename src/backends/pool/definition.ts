import { z } from 'zod';
import { backendName } from '../../config/names.js';
import { parseDuration } from '../../config/resources.js';
import { defineBackend, type ConfigIssue } from '../definition.js';

/** A longer wait is no burst policy: the run would sit on the first member for over a week. */
export const MAX_QUEUE_WAIT_SECONDS = 7 * 86400;

/** Seconds of a valid maxQueueWait, or undefined ('0s', '-1m', 'abc', '30d'). */
export function queueWaitSeconds(text: string): number | undefined {
  try {
    const seconds = parseDuration(text);
    return seconds <= MAX_QUEUE_WAIT_SECONDS ? seconds : undefined;
  } catch {
    return undefined;
  }
}

const poolSchema = z
  .object({
    kind: z.literal('pool'),
    /** In the order they are tried. */
    members: z
      .array(backendName)
      .min(2, 'must name at least two backends, in the order they are tried')
      .superRefine((members, ctx) => {
        const twice = members.find((m, i) => members.indexOf(m) !== i);
        if (twice !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `names "${twice}" twice; list each member once` });
      }),
    /** How long a run may wait pending on a member before it is placed on the next one. */
    maxQueueWait: z.string().refine((text) => queueWaitSeconds(text) !== undefined, (text) => ({
      message: `must be a duration from 1s to 7d, e.g. 20s, 5m or 1h (got "${text}")`,
    })),
    /** The member tried first; default: the first member. */
    prefer: backendName.optional(),
  })
  .strict();
export type PoolConfig = z.output<typeof poolSchema>;

/**
 * A pool: ordered member backends a run may be placed on. It is not a Backend itself: the
 * workflow resolves it (resolve-pool.ts) and moves a run on when it waits too long pending.
 */
export const poolDefinition = defineBackend({
  kind: 'pool',
  schema: poolSchema,
  flags: {
    member: { key: 'members', type: 'string', multiple: true, description: 'member backend, in the order they are tried (repeat; at least two)' },
    'max-queue-wait': { key: 'maxQueueWait', type: 'string', description: 'how long a run may wait pending on a member before it moves to the next, e.g. 20s, 5m, 1h (at most 7d)' },
    prefer: { key: 'prefer', type: 'string', description: 'the member tried first (default: the first member)' },
  },
  validate: (config, { name, backends, runnableKinds }) => {
    const issues: ConfigIssue[] = [];
    const candidates = () => Object.keys(backends).filter((b) => runnableKinds.includes(backends[b]!.kind)).sort();
    const runnable = `a pool's members must be ${orList(runnableKinds)} backends (no recursive pools)`;
    for (const member of config.members) {
      const found = backends[member];
      if (member === name) issues.push({ path: ['members'], message: `names the pool itself ("${name}"): ${runnable}` });
      else if (!found) issues.push({ path: ['members'], message: `names unknown backend "${member}"; known backends: ${candidates().join(', ')}` });
      else if (!runnableKinds.includes(found.kind)) issues.push({ path: ['members'], message: `names "${member}", itself a ${found.kind}: ${runnable}` });
    }
    if (config.prefer !== undefined && !config.members.includes(config.prefer)) {
      issues.push({ path: ['prefer'], message: `must be one of the members (${config.members.join(', ')}), not "${config.prefer}"` });
    }
    return issues;
  },
  uses: (config) => config.members,
  describe: (config) => `members ${config.members.join(', ')}; max queue wait ${config.maxQueueWait}${config.prefer ? `; prefers ${config.prefer}` : ''}`,
});


/** "a, b or c" */
const orList = (items: readonly string[]) => (items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`);
