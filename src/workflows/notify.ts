import { ActivityFailure, ParentClosePolicy, log, patched, proxyActivities, proxyLocalActivities, startChild } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { EndedEvent, NotifyOutcome } from '../activities/types.js';
import { longSteps, notifyWorkflowId, steps } from './contract.js';

const delivery = proxyActivities<Activities>(longSteps.delivery);
const lookup = proxyLocalActivities<Activities>(steps.notifiers);

/** The workflow that tells people something ended: one per run, sweep or lab, id `<id>.notify`. */
export async function notifyEnded(event: EndedEvent): Promise<NotifyOutcome[]> {
  try {
    return await delivery.notifyEnded(event);
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    log.warn('notice given up', { id: event.id, reason: err.cause?.message ?? err.message });
    return [];
  }
}


/**
 * Called by run, sweep and lab workflows once their record is committed: starts notifyEnded as
 * an abandoned child, so the caller's result (and an attached CLI) waits only for the child to
 * start, never for a receiver, and the delivery outlives the caller. Nothing here can fail the
 * caller: the record is already committed.
 */
export async function announceEnd(event: EndedEvent): Promise<void> {
  // Histories from before notifications replay without these steps.
  if (!patched('notify-on-end-v1')) return;
  try {
    if (!(await lookup.notifiersConfigured())) return;
    await startChild(notifyEnded, {
      workflowId: notifyWorkflowId(event.id),
      args: [event],
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
  } catch (err) {
    log.warn('notice not started', { id: event.id, err: String(err) });
  }
}
