/** Names shared by workflows and the activities and clients that start or signal them (no imports: safe on both sides). */
export const RUN_WORKFLOW = 'runProject';
export const SWEEP_WORKFLOW = 'sweepProject';
export const SLOTS_WORKFLOW = 'backendSlots';
export const LAB_WORKFLOW = 'labSession';

/** The workflow that holds a limited backend's slots (workflows/slots.ts). */
export const slotsWorkflowId = (backend: string) => `reprise-slots-${backend}`;
