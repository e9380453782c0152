export { runProject, progressQuery } from './run-project.js';
export { backendSlots } from './slots.js';
export { sweepProject, sweepProgressQuery } from './sweep.js';
export { labSession, labProgressQuery } from './lab.js';
export { notifyEnded } from './notify.js';
