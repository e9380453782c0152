import { relative, sep } from 'node:path';
import { badInput } from '../errors.js';
import { Git } from './git.js';

/**
 * Where in the project a run's command starts: the directory the user ran `reprise run` from,
 * relative to the project root, as a POSIX path ('' at the root). `cd code && reprise run --
 * python3 fit.py` runs fit.py in code/, as it would without Reprise.
 */
export function workdirOf(root: string, cwd: string): string {
  const rel = relative(root, cwd);
  if (rel.startsWith('..')) throw badInput(`${cwd} is not inside the project at ${root}; cd into the project`);
  return checkWorkdir(rel.split(sep).join('/'));
}

/** A workdir as runs carry it: relative, normalised, inside the project; throws otherwise. */
export function checkWorkdir(workdir: string): string {
  if (workdir === '' || workdir === '.') return '';
  const parts = workdir.split('/');
  if (workdir.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..') || /[\0\n]/.test(workdir)) {
    throw badInput(`working directory "${workdir}" must be a plain relative path inside the project (like code/models)`);
  }
  return workdir;
}

/** Refuse a workdir the source commit does not have (the job would start in a missing directory). */
export async function assertWorkdirIn(root: string, commit: string, workdir: string): Promise<void> {
  if (!workdir) return;
  const type = await new Git(root).tryRun(['cat-file', '-t', `${commit}:${workdir}`]);
  if (type?.trim() !== 'tree') {
    throw badInput(
      `the directory ${workdir}/ you ran from is not in the run's source commit (git keeps no empty or ignored directories); ` +
        'run from the project root or from a directory with committed files',
    );
  }
}
