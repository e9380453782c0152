import { parseYaml } from '../config/yaml-file.js';
import { commitMemo } from './commit-memo.js';
import { Git } from './git.js';
import { ENVIRONMENT_FILE, PROJECT_FILE } from './layout.js';
import { environmentSchema, projectSchema, type EnvironmentSpec, type ProjectSpec } from './schema.js';

type Specs = { project: ProjectSpec; environment: EnvironmentSpec };
const specsOf = commitMemo<Specs>();

/** The project and environment specs as they are in `commit` (what a run executes). */
export function specsAt(root: string, commit: string): Promise<Specs> {
  return specsOf(commit, () => readSpecs(root, commit));
}

async function readSpecs(root: string, commit: string): Promise<Specs> {
  const git = new Git(root);
  const read = async (path: string) => {
    const text = await git.tryRun(['show', `${commit}:${path}`]);
    if (text === undefined) throw new Error(`${path} is missing in commit ${commit.slice(0, 12)}`);
    return text;
  };
  return {
    project: parseYaml(await read(PROJECT_FILE), projectSchema, PROJECT_FILE),
    environment: parseYaml(await read(ENVIRONMENT_FILE), environmentSchema, ENVIRONMENT_FILE),
  };
}
