import {
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { acquireSignal, grantSignal, releaseSignal, slotsQuery, steps, type SlotsState } from './contract.js';

/**
 * A backend's `maxParallel`, held across every run and sweep: one long-lived workflow per
 * limited backend hands out slots. A run asks (the requestSlot activity signals it, starting it
 * when needed), waits for `slotGranted`, and gives the slot back once its job has ended. The
 * state lives in the workflow, so it survives worker restarts; holders that closed without
 * giving back (terminated) are found by asking Temporal and dropped.
 */
const checks = proxyLocalActivities<Activities>(steps.lookup);

export async function backendSlots(state: SlotsState): Promise<void> {
  let { limit } = state;
  const holders = [...state.holders];
  const waiting = [...state.waiting];
  const regrant = new Set<string>();
  let changed = true;
  const drop = (id: string) => {
    for (const list of [holders, waiting]) {
      const i = list.indexOf(id);
      if (i >= 0) list.splice(i, 1);
    }
    changed = true;
  };
  setHandler(acquireSignal, ({ holder, limit: l }) => {
    limit = l;
    // Asked again (a retried activity): a holder is told again, a waiter keeps its place.
    if (holders.includes(holder)) regrant.add(holder);
    else if (!waiting.includes(holder)) waiting.push(holder);
    changed = true;
  });
  setHandler(releaseSignal, drop);
  setHandler(slotsQuery, () => ({ backend: state.backend, limit, holders: [...holders], waiting: [...waiting] }));

  const grant = async (holder: string) => {
    try {
      await getExternalWorkflowHandle(holder).signal(grantSignal, state.backend);
    } catch {
      drop(holder); // it closed meanwhile
    }
  };

  for (;;) {
    changed = false;
    while (waiting.length && holders.length < limit) {
      const next = waiting.shift()!;
      holders.push(next);
      await grant(next);
    }
    for (const h of [...regrant]) {
      regrant.delete(h);
      if (holders.includes(h)) await grant(h);
    }
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 5000) {
      await continueAsNew<typeof backendSlots>({ backend: state.backend, limit, holders, waiting });
    }
    const idle = holders.length === 0 && waiting.length === 0;
    if (await condition(() => changed, idle ? '10m' : '30s')) continue;
    if (idle) return; // a later request starts it again
    // Nothing moved for a while: drop holders that closed without giving their slot back.
    for (const id of await checks.closedWorkflows([...holders, ...waiting])) drop(id);
  }
}
