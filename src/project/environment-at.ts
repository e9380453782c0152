import { parseYaml } from '../config/yaml-file.js';
import { Git } from './git.js';
import { ENVIRONMENT_FILE, PROJECT_FILE } from './layout.js';
import { environmentSchema, projectSchema, type EnvironmentSpec, type ProjectSpec } from './schema.js';

/** The project and environment specs as they are in `commit` (what a run executes). */
export async function specsAt(root: string, commit: string): Promise<{ project: ProjectSpec; environment: EnvironmentSpec }> {
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
