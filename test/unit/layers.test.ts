import { beforeAll, describe, expect, it } from 'vitest';
import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';

// The repository's own eslint.config.js, run on texts placed at real paths of each layer.
const root = fileURLToPath(new URL('../..', import.meta.url));
const RULE = '@typescript-eslint/no-restricted-imports';
let eslint: ESLint;

async function layerErrors(filePath: string, text: string): Promise<string[]> {
  const [result] = await eslint.lintText(text, { filePath: `${root}/${filePath}` });
  return result!.messages.filter((m) => m.ruleId === RULE).map((m) => m.message);
}

beforeAll(async () => {
  eslint = new ESLint({ cwd: root });
  await layerErrors('src/config/names.ts', 'export {};\n'); // loads the TypeScript project once
}, 120_000);

describe('import layers (eslint.config.js)', () => {
  it.each([
    ['src/errors.ts', "import { paths } from './config/env.js';", 'ground floor'],
    ['src/config/names.ts', "import { RunClient } from '../client/runs.js';", 'src/config'],
    ['src/config/names.ts', "import { backendKinds } from '../backends/kinds.js';", 'src/config'],
    ['src/project/git.ts', "import { deliver } from '../notify/deliver.js';", 'src/project'],
    ['src/notify/format.ts', "import { Git } from '../project/git.js';", 'src/notify'],
    ['src/project/git.ts', "import { buildImage } from '../images/build.js';", 'src/project'],
    ['src/images/build.ts', "import { multipart } from '../data/store/multipart.js';", 'src/images'],
    ['src/images/build.ts', "import { createBackend } from '../backends/registry.js';", 'src/images'],
    ['src/data/cache.ts', "import { buildLabImage } from '../lab/image.js';", 'src/data'],
    ['src/lab/image.ts', "import { createBackend } from '../backends/registry.js';", 'src/lab'],
    ['src/backends/slurm/scheduler.ts', "import { LogTail } from '../../activities/log-tail.js';", 'src/backends'],
    ['src/backends/kinds.ts', "import { JOB_LOG } from '../activities/types.js';", 'src/backends'],
    ['src/activities/notify.ts', "import { runProject } from '../workflows/run-project.js';", 'src/activities'],
    ['src/activities/notify.ts', "import { RunClient } from '../client/runs.js';", 'src/activities'],
    ['src/client/ids.ts', "import { LogTail } from '../activities/log-tail.js';", 'Activities run in the worker'],
    ['src/client/ids.ts', "import { serve } from '../dashboard/server.js';", 'src/client'],
    ['src/dashboard/page.ts', "import { table } from '../cli/table.js';", 'src/dashboard'],
    ['src/dashboard/page.ts', "import { createWorkers } from '../worker/worker.js';", 'src/dashboard'],
    ['src/cli/table.ts', "import { LogTail } from '../activities/log-tail.js';", 'Activities run in the worker'],
    ['src/workflows/image.ts', "import { table } from '../cli/table.js';", 'src/workflows'],
  ])('%s may not %s', async (file, text, says) => {
    const errors = await layerErrors(file, `${text}\nexport const used = [${/import \{ (\w+) \}/.exec(text)![1]}];\n`);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(says);
    expect(errors[0]).toMatch(/Move the shared code down|import their types only|imports no folder|move what workflows need/);
  }, 60_000);

  it.each([
    ['src/activities/notify.ts', "import { SLOTS_WORKFLOW } from '../workflows/names.js';"],
    ['src/activities/notify.ts', "import { RUN_WORKFLOW } from '../workflows/contract.js';"],
    ['src/activities/prepare.ts', "import { runOrigin } from '../workflows/run-origin.js';"],
    ['src/activities/notify.ts', "import type { SlotsState } from '../workflows/slots.js';"],
    ['src/client/ids.ts', "import { RUN_WORKFLOW } from '../workflows/contract.js';"],
    ['src/client/ids.ts', "import type { RunInput } from '../activities/types.js';"],
    ['src/cli/table.ts', "import type { RunResult } from '../activities/types.js';"],
    ['src/backends/kinds.ts', "import { Git } from '../project/git.js';"],
    ['src/worker/worker.ts', "import { createActivities } from '../activities/index.js';"],
  ])('%s may %s', async (file, text) => {
    const name = /import (?:type )?\{ (\w+) \}/.exec(text)![1];
    const use = text.startsWith('import type') ? `export type Used = ${name};` : `export const used = [${name}];`;
    expect(await layerErrors(file, `${text}\n${use}\n`)).toEqual([]);
  }, 60_000);
});
