export { runProject, progressQuery } from './run-project.js';
