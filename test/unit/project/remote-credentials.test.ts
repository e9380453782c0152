// A password in a remote's URL lives in the user's REPRISE_HOME, never in the project's git
// config, where git would pass it to its HTTP helper's argv (visible in `ps`) on every fetch.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { addRemote, listRemotes, secureRemoteCredentials } from '../../../src/project/remotes.js';
import { git, makeProject, tempDir } from '../../helpers/project.js';

describe('remote credentials', () => {
  it('remote add keeps the password in $REPRISE_HOME/git-credentials (0600), the URL in the project without it', async () => {
    const { root } = await makeProject();
    const home = await tempDir('reprise-home-');
    expect(await addRemote(root, 'origin', 'https://alice:p%40ss-word@git.example.org/team/fit.git', home)).toEqual({ name: 'origin', url: 'https://alice@git.example.org/team/fit.git' });
    expect(git(root, 'config', '--get', 'remote.origin.url')).toBe('https://alice@git.example.org/team/fit.git\n');
    expect(git(root, 'config', '--get-all', 'credential.helper')).toBe(`store --file='${join(home, 'git-credentials')}'\n`);
    expect(await readFile(join(home, 'git-credentials'), 'utf8')).toBe('https://alice:p%40ss-word@git.example.org\n');
    expect((await stat(join(home, 'git-credentials'))).mode & 0o777).toBe(0o600);
    // Plain git finds it through the helper.
    const filled = execFileSync('git', ['credential', 'fill'], { cwd: root, input: 'url=https://alice@git.example.org/team/fit.git\n\n', encoding: 'utf8', env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
    expect(filled).toContain('password=p@ss-word\n');
  });

  it('a remote given a password by hand (plain git) is listed redacted, and sync moves the password out of the project', async () => {
    const { root } = await makeProject();
    const home = await tempDir('reprise-home-');
    git(root, 'remote', 'add', 'origin', 'https://bob:tok3n-xyz@git.example.org/x.git');
    expect(await listRemotes(root)).toEqual([{ name: 'origin', url: 'https://bob:***@git.example.org/x.git' }]);
    expect(await secureRemoteCredentials(root, 'origin', home)).toBe(true);
    expect(await readFile(join(root, '.git/config'), 'utf8')).not.toContain('tok3n-xyz');
    expect(git(root, 'config', '--get', 'remote.origin.url')).toBe('https://bob@git.example.org/x.git\n');
    expect(await readFile(join(home, 'git-credentials'), 'utf8')).toBe('https://bob:tok3n-xyz@git.example.org\n');
    expect(await secureRemoteCredentials(root, 'origin', home)).toBe(false);
    expect(git(root, 'config', '--get-all', 'credential.helper').trim().split('\n')).toHaveLength(1);
  });
});
