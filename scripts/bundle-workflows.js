// Bundle the workflows once at build time so a worker starts without running webpack.
import { bundleWorkflowCode } from '@temporalio/worker';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const workflowsPath = fileURLToPath(new URL('../dist/workflows/index.js', import.meta.url));
const { code } = await bundleWorkflowCode({ workflowsPath, logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error } });
await writeFile(new URL('../dist/workflow-bundle.js', import.meta.url), code);
