import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { Git } from '../../../src/project/git.js';
import { tempDir } from '../../helpers/project.js';

// Git's own order: GIT_AUTHOR_NAME and its kin from the environment, then user.name/user.email
// from its config. Reprise's fallback identity only fills what neither gives.
const VARIABLES = ['GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL', 'GIT_CONFIG_GLOBAL', 'GIT_CONFIG_NOSYSTEM'];

describe('Git.identityEnv', () => {
  const saved: Record<string, string | undefined> = {};
  beforeEach(() => {
    for (const v of VARIABLES) saved[v] = process.env[v];
    for (const v of VARIABLES.slice(0, 4)) delete process.env[v];
    // No user or system config: only what a test sets.
    process.env.GIT_CONFIG_GLOBAL = '/dev/null';
    process.env.GIT_CONFIG_NOSYSTEM = '1';
  });
  afterEach(() => {
    for (const v of VARIABLES) if (saved[v] === undefined) delete process.env[v];
    else process.env[v] = saved[v];
  });

  const repo = async () => {
    const dir = await tempDir('reprise-identity-');
    execFileSync('git', ['init', '-q', dir]);
    return dir;
  };

  it('falls back to Reprise when neither the environment nor the config names anyone', async () => {
    expect(await new Git(await repo()).identityEnv()).toEqual({ GIT_AUTHOR_NAME: 'Reprise', GIT_AUTHOR_EMAIL: 'reprise@localhost', GIT_COMMITTER_NAME: 'Reprise', GIT_COMMITTER_EMAIL: 'reprise@localhost' });
  });

  it('leaves an identity given in the environment to git (a team member on a machine without a git config)', async () => {
    Object.assign(process.env, { GIT_AUTHOR_NAME: 'alice', GIT_AUTHOR_EMAIL: 'alice@example.org', GIT_COMMITTER_NAME: 'alice', GIT_COMMITTER_EMAIL: 'alice@example.org' });
    expect(await new Git(await repo()).identityEnv()).toEqual({});
  });

  it('fills only the part the config lacks', async () => {
    const dir = await repo();
    execFileSync('git', ['config', 'user.name', 'Bob'], { cwd: dir });
    expect(await new Git(dir).identityEnv()).toEqual({ GIT_AUTHOR_EMAIL: 'reprise@localhost', GIT_COMMITTER_EMAIL: 'reprise@localhost' });
    execFileSync('git', ['config', 'user.email', 'bob@example.org'], { cwd: dir });
    expect(await new Git(dir).identityEnv()).toEqual({});
  });
});
