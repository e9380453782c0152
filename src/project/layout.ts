import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { badInput } from '../errors.js';
import { fileMemo } from '../file-memo.js';
import { readYamlFile, toYaml } from '../config/yaml-file.js';
import { Git } from './git.js';
import { environmentSchema, projectSchema, type EnvironmentSpec, type ProjectSpec } from './schema.js';

export const PROJECT_FILE = '.reprise/project.yaml';
export const ENVIRONMENT_FILE = '.reprise/environment.yaml';
export const ACTIVITY_DIR = '.reprise/activity';
/**
 * The user's files as a git pathspec: everything but what runs produce (outputs and records).
 * Swept into a run's source commit, and what a branch switch refuses to carry along uncommitted.
 */
export const USER_FILES_PATHSPEC = ['.', ':(exclude)output', `:(exclude)${ACTIVITY_DIR}`];
/** The environment lock runs commit (images/lock.ts writes it). */
export const ENVIRONMENT_LOCK = '.reprise/environment.lock';
/** Where a laptop's projects start from; machines without a registry pass --base. */
export const DEFAULT_BASE_IMAGE = 'python:3.12-slim';

export interface Project {
  root: string;
  spec: ProjectSpec;
}

/** Walk up from `start` to the directory holding .reprise/project.yaml. */
export function findProjectRoot(start: string): string {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, PROJECT_FILE))) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw badInput(`not inside a Reprise project (no ${PROJECT_FILE} in ${resolve(start)} or above); cd into a project or run: reprise init <dir> --name <name>`);
    }
    dir = parent;
  }
}

export async function loadProject(root: string): Promise<Project> {
  const spec = await readYamlFile(join(root, PROJECT_FILE), projectSchema, PROJECT_FILE);
  return { root, spec };
}

/** loadProject for a long-lived process (the worker): a project's spec read again only when its file changed (file-memo.ts). */
export function projectReader(): (root: string) => Promise<Project> {
  const read = fileMemo((file) => readYamlFile(file, projectSchema, PROJECT_FILE));
  return async (root) => ({ root, spec: await read(join(root, PROJECT_FILE)) });
}

export async function loadEnvironment(root: string): Promise<EnvironmentSpec> {
  return readYamlFile(join(root, ENVIRONMENT_FILE), environmentSchema, ENVIRONMENT_FILE);
}

export async function saveEnvironment(root: string, spec: EnvironmentSpec): Promise<void> {
  await writeFile(join(root, ENVIRONMENT_FILE), toYaml(spec));
}

/** What a project never commits: secrets (a run also refuses any file holding a private key) and Jupyter's autosaves. */
export const PROJECT_GITIGNORE = `# Secrets: keep them in your Reprise config, never in the project's history
.env
.env.*
!.env.example
*.pem
*.key
*.p12
id_rsa*
id_dsa*
id_ecdsa*
id_ed25519*
!*.pub
# Jupyter's autosaves
.ipynb_checkpoints/
`;

export interface InitOptions {
  name: string;
  base?: string;
}

/** Create a project: the folders, the two spec files and a git repository with a first commit. */
export async function initProject(dir: string, options: InitOptions): Promise<Project> {
  const root = resolve(dir);
  const parsed = projectSchema.shape.name.safeParse(options.name);
  if (!parsed.success) throw badInput(`invalid project name "${options.name}": ${parsed.error.issues[0]!.message}; pick another --name`);
  if (existsSync(join(root, PROJECT_FILE))) throw badInput(`${root} is already a Reprise project; pick another directory`);
  if (existsSync(root) && (await readdir(root)).some((f) => f !== '.git')) {
    throw badInput(`${root} is not empty; give a new or empty directory to reprise init`);
  }
  const spec: ProjectSpec = { name: options.name, id: randomUUID(), backend: 'local' };
  const environment: EnvironmentSpec = {
    base: options.base ?? process.env.REPRISE_DEFAULT_BASE ?? DEFAULT_BASE_IMAGE,
    packages: { apt: [], pip: [], conda: [] },
    dockerfile: [],
  };
  for (const sub of ['code', 'input', 'output', ACTIVITY_DIR]) await mkdir(join(root, sub), { recursive: true });
  for (const sub of ['code', 'input', 'output', ACTIVITY_DIR]) await writeFile(join(root, sub, '.gitkeep'), '');
  await writeFile(join(root, PROJECT_FILE), toYaml(spec));
  await writeFile(join(root, ENVIRONMENT_FILE), toYaml(environment));
  await writeFile(join(root, '.gitignore'), PROJECT_GITIGNORE);
  await writeFile(
    join(root, 'README.md'),
    `# ${options.name}\n\nA Reprise project. Code in \`code/\`, data in \`input/\`, results in \`output/\`.\nRun: \`reprise run -- python3 code/<script>.py\`; history: \`reprise log\`.\n`,
  );
  const git = new Git(root);
  if (!existsSync(join(root, '.git'))) await git.run(['init', '-q', '-b', 'main']);
  await git.run(['add', '-A']);
  await git.run(['commit', '-q', '-m', `Create project ${options.name}`], { env: await git.identityEnv() });
  return { root, spec };
}
