// The contract's names are what running workflows are known by: a workflow type, query or signal
// renamed by mistake orphans every workflow in flight. Each name must match the function the
// worker registers, and the step presets must keep the properties the durability rules need.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { describe, expect, it } from 'vitest';
import * as contract from '../../../src/workflows/contract.js';
import * as workflows from '../../../src/workflows/index.js';

describe('workflow contract', () => {
  it('names each workflow the worker registers by its function name', () => {
    expect({
      [contract.RUN_WORKFLOW]: workflows.runProject,
      [contract.SWEEP_WORKFLOW]: workflows.sweepProject,
      [contract.LAB_WORKFLOW]: workflows.labSession,
      [contract.SLOTS_WORKFLOW]: workflows.backendSlots,
      [contract.NOTIFY_WORKFLOW]: workflows.notifyEnded,
    }).toEqual({ runProject: workflows.runProject, sweepProject: workflows.sweepProject, labSession: workflows.labSession, backendSlots: workflows.backendSlots, notifyEnded: workflows.notifyEnded });
    // Every function the bundle exports is a workflow type: each has its name in the contract.
    const exported = Object.entries(workflows).filter(([, v]) => typeof v === 'function').map(([k]) => k).sort();
    expect(exported).toEqual([contract.RUN_WORKFLOW, contract.SWEEP_WORKFLOW, contract.LAB_WORKFLOW, contract.SLOTS_WORKFLOW, contract.NOTIFY_WORKFLOW].sort());
  });

  it('keeps the query and signal names running workflows answer to', () => {
    expect([contract.progressQuery, contract.sweepProgressQuery, contract.labProgressQuery, contract.slotsQuery].map((q) => q.name)).toEqual(['progress', 'sweepProgress', 'labProgress', 'slots']);
    expect([contract.acquireSignal, contract.releaseSignal, contract.grantSignal].map((s) => s.name)).toEqual(['acquireSlot', 'releaseSlot', 'slotGranted']);
    // Written out without the workflow runtime, they are what defineQuery/defineSignal make.
    expect(contract.progressQuery).toEqual(defineQuery('progress'));
    expect(contract.acquireSignal).toEqual(defineSignal('acquireSlot'));
    expect(contract.slotsWorkflowId('hpc')).toBe('reprise-slots-hpc');
    expect(contract.notifyWorkflowId('r1')).toBe('r1.notify');
  });

  it('gives every long step a heartbeat timeout and bounds every step', () => {
    for (const [name, options] of Object.entries(contract.longSteps)) expect(options.heartbeatTimeout, name).toBeDefined();
    for (const [name, options] of Object.entries({ ...contract.steps, ...contract.longSteps })) expect(options.startToCloseTimeout, name).toBeDefined();
  });
});
