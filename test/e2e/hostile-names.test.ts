// Names a user (or a colleague's project) could make hostile: path separators, "..", shell
// syntax, leading dashes. Each is refused with exit 2 in one line, nothing created or changed.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, cliEnv } from '../helpers/cli.js';
import { BUSYBOX, requireDocker } from '../helpers/docker.js';
import { repoState, tempDir } from '../helpers/project.js';

let cli: Cli;
let work: string;
let root: string;

beforeAll(async () => {
  requireDocker();
  cli = new Cli(await cliEnv(await tempDir('reprise-names-home-')));
  work = await tempDir('reprise-names-');
  expect((await cli.run(['init', 'p', '--name', 'p', '--base', BUSYBOX], work)).code).toBe(0);
  root = join(work, 'p');
});

afterAll(async () => {
  await cli?.run(['agent', 'stop'], root);
});

const cases: [string, string[], RegExp][] = [
  ['project name with ..', ['init', 'x1', '--name', '../evil'], /invalid project name "\.\.\/evil"/],
  ['project name with /', ['init', 'x2', '--name', 'a/b'], /invalid project name "a\/b"/],
  ['backend name with ..', ['backend', 'add', '../x', '--kind', 'docker'], /invalid backend name "\.\.\/x"/],
  ['backend name with /', ['backend', 'add', 'a/b', '--kind', 'docker'], /invalid backend name "a\/b"/],
  ['branch name with ..', ['branch', 'create', '../x'], /invalid branch name "\.\.\/x"/],
  ['branch name a..b', ['branch', 'create', 'a..b'], /invalid branch name "a\.\.b"/],
  ['branch switch out of refs', ['branch', 'switch', '../../HEAD'], /no branch "\.\.\/\.\.\/HEAD"/],
  ['remote name with ..', ['remote', 'add', '../x', '/tmp'], /invalid remote name "\.\.\/x"/],
  ['run id as a path', ['show', '../../etc/passwd'], /no recorded run "\.\.\/\.\.\/etc\/passwd"/],
  ['run id with $()', ['show', 'run-$(id)'], /no recorded run "run-\$\(id\)"/],
  ['logs of a path', ['logs', '../../x'], /no run "\.\.\/\.\.\/x"/],
  ['cancel of a path', ['cancel', '../x'], /no run "\.\.\/x"/],
  ['rerun of a path', ['rerun', '../x'], /no recorded run "\.\.\/x"/],
  ['env diff of paths', ['env', 'diff', '../a', '../b'], /no recorded run "\.\.\/a"/],
];

describe('hostile names: exit 2, one line, nothing created or changed', () => {
  for (const [what, args, message] of cases) {
    it(what, async () => {
      const before = repoState(root);
      const entries = await readdir(work);
      const r = await cli.run(args, root);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(repoState(root)).toEqual(before);
      expect(await readdir(work)).toEqual(entries);
    });
  }
});
