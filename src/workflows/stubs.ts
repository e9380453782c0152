import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { longSteps, steps } from './contract.js';

// The activity stubs the run, sweep, lab and image workflows call, one per kind of step (their
// options are the contract's). Stubs hold no state, so the workflows share them.
export const prep = proxyLocalActivities<Activities>(steps.prep);
export const submitting = proxyLocalActivities<Activities>(steps.submitting);
export const finishing = proxyLocalActivities<Activities>(steps.finishing);
export const build = proxyActivities<Activities>(longSteps.build);
export const transfer = proxyActivities<Activities>(longSteps.transfer);
export const checkpoints = proxyActivities<Activities>(longSteps.checkpoint);
export const waiting = proxyActivities<Activities>(longSteps.waiting);
