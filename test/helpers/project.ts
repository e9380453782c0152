import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { initProject, type Project } from '../../src/project/layout.js';

/** The temp dirs made by this test file, removed when it ends (test/helpers/remove-temp-dirs.ts). */
export const madeTempDirs: string[] = ((globalThis as { __repriseTempDirs?: string[] }).__repriseTempDirs ??= []);

export async function tempDir(prefix = 'reprise-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  madeTempDirs.push(dir);
  return dir;
}

/** A fresh project in a temp dir, optionally with files (path → content) committed. */
export async function makeProject(options: { base?: string; files?: Record<string, string>; name?: string } = {}): Promise<Project> {
  const root = join(await tempDir(), options.name ?? 'proj');
  const project = await initProject(root, { name: options.name ?? 'proj', base: options.base ?? 'local/busybox:latest' });
  if (options.files) {
    for (const [path, content] of Object.entries(options.files)) {
      await mkdir(join(root, path, '..'), { recursive: true });
      await writeFile(join(root, path), content);
    }
    git(root, 'add', '-A');
    git(root, 'commit', '-qm', 'add files');
  }
  return project;
}

export function git(root: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd: root, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
}

/** Everything a user could lose: HEAD, index and working tree, as one comparable value. */
export function repoState(root: string): { head: string; status: string; diff: string; staged: string; refs: string } {
  return {
    head: git(root, 'rev-parse', 'HEAD').trim(),
    status: git(root, 'status', '--porcelain=v1', '--untracked-files=all'),
    diff: git(root, 'diff'),
    staged: git(root, 'diff', '--cached'),
    refs: git(root, 'for-each-ref'),
  };
}
