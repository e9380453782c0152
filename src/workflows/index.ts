export { runProject } from './run-project.js';
export { backendSlots } from './slots.js';
export { sweepProject } from './sweep.js';
export { labSession } from './lab.js';
export { notifyEnded } from './notify.js';
