import { rm } from 'node:fs/promises';
import { afterAll } from 'vitest';
import { madeTempDirs } from './project.js';

interface Task { result?: { state?: string }; tasks?: Task[] }
const anyFailed = (task: Task): boolean => task.result?.state === 'fail' || (task.tasks ?? []).some(anyFailed);

// Every test file's temp dirs are removed when it ends: the data suites alone left ~1.5 GB in
// /tmp per run. Kept when a test in the file failed (to look at), or with REPRISE_KEEP_TEST_DIRS=1.
// A setup file's afterAll runs after the test file's own (hooks run as a stack), so agents and
// clusters the file started are stopped before their directories go.
afterAll(async (file) => {
  if (anyFailed(file as Task) || process.env.REPRISE_KEEP_TEST_DIRS === '1') {
    if (madeTempDirs.length) console.error(`temp dirs kept: ${madeTempDirs.join(' ')}`);
    return;
  }
  await Promise.all(madeTempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined)));
});
