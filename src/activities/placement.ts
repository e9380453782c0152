import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { resolveBackend } from '../backends/user-config.js';
import { resolvePool } from '../backends/pool/resolve-pool.js';
import { SLOTS_WORKFLOW, acquireSignal, slotsWorkflowId, type SlotsWorkflow } from '../workflows/contract.js';
import { type Target } from './types.js';
import { guard } from './guard.js';
import type { RunContext } from './context.js';

/** Where a run may go: a backend or a pool's members, and the slots of a backend with maxParallel. */
export function createPlacementActivities(shared: RunContext) {
  const { userConfig } = shared;

  return {
    /** The backends a run may be placed on: the one named, or a pool's members in order. */
    async resolveTarget(backend: string): Promise<Target> {
      return guard(async () => {
        const config = await userConfig();
        if (resolveBackend(config, backend).config.kind !== 'pool') return { members: [backend] };
        const pool = resolvePool(config, backend);
        const names = pool.members.map((m) => m.name);
        // The preferred member goes first; the others keep their order.
        const members = pool.prefer ? [pool.prefer, ...names.filter((n) => n !== pool.prefer)] : names;
        return { pool: backend, members, maxQueueWaitSeconds: pool.maxQueueWaitSeconds };
      });
    },

    /**
     * Ask the backend's slot holder (workflows/slots.ts) for a slot when the backend has a
     * `maxParallel`; false when it has none (no need to wait). Repeating the ask is harmless.
     */
    async requestSlot(backend: string, holder: string): Promise<boolean> {
      return guard(async () => {
        const { config } = resolveBackend(await userConfig(), backend);
        const limit = 'maxParallel' in config ? config.maxParallel : undefined;
        if (!limit) return false;
        const ctx = Context.current();
        await ctx.client.workflow.signalWithStart<SlotsWorkflow, [{ holder: string; limit: number }]>(SLOTS_WORKFLOW, {
          workflowId: slotsWorkflowId(backend),
          taskQueue: ctx.info.taskQueue,
          signal: acquireSignal,
          signalArgs: [{ holder, limit }],
          args: [{ backend, limit, holders: [], waiting: [] }],
        });
        return true;
      });
    },

    /** Which of these workflows have closed (or are unknown): slots they hold are free again. */
    async closedWorkflows(ids: string[]): Promise<string[]> {
      const client = Context.current().client;
      const closed = await Promise.all(
        ids.map(async (id) => {
          try {
            return (await client.workflow.getHandle(id).describe()).status.name === 'RUNNING' ? undefined : id;
          } catch (err) {
            return err instanceof WorkflowNotFoundError ? id : undefined;
          }
        }),
      );
      return closed.filter((id): id is string => id !== undefined);
    },
  };
}
