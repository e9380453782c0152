import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { slotsQuery, slotsWorkflowId, type SlotsState } from '../workflows/contract.js';

/**
 * Who holds a limited backend's slots now, across every project: the slot holder's own answer.
 * No holder running means nobody holds a slot; undefined when it cannot answer (an older worker).
 */
export async function backendSlots(client: Client, backend: string): Promise<Pick<SlotsState, 'holders' | 'waiting'> | undefined> {
  const handle = client.workflow.getHandle(slotsWorkflowId(backend));
  try {
    if ((await handle.describe()).status.name !== 'RUNNING') return { holders: [], waiting: [] };
    const state = await handle.query(slotsQuery);
    return { holders: state.holders, waiting: state.waiting };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { holders: [], waiting: [] };
    return undefined;
  }
}
