// Secrets stay out of a project's history: `reprise init` ignores the usual places, and a run
// refuses to sweep a file holding a private key (exit 2, named, nothing committed).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, cliEnv } from '../helpers/cli.js';
import { BUSYBOX, requireDocker } from '../helpers/docker.js';
import { git, repoState, tempDir } from '../helpers/project.js';

let cli: Cli;
let root: string;

beforeAll(async () => {
  requireDocker();
  cli = new Cli(await cliEnv(await tempDir('reprise-secrets-home-')));
  const work = await tempDir('reprise-secrets-');
  expect((await cli.run(['init', 's', '--name', 's', '--base', BUSYBOX], work)).code).toBe(0);
  root = join(work, 's');
});

afterAll(async () => {
  await cli?.run(['agent', 'stop'], root);
});

describe('secrets and a run', () => {
  it('a run refuses to commit a private key, naming it; once removed, the run goes ahead without it', async () => {
    await writeFile(join(root, '.env'), 'TOKEN=ignored\n');
    await writeFile(join(root, 'code/backup'), '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n-----END OPENSSH PRIVATE KEY-----\n');
    await writeFile(join(root, 'code/job.sh'), 'echo ok > output/ok.txt\n');
    const before = repoState(root);
    const refused = await cli.run(['run', '--', 'sh', 'code/job.sh'], root);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n').at(-1)).toBe(
      'Error: code/backup looks like a private key; Reprise will not commit it: move it out of the project (or add it to .gitignore) and run again',
    );
    expect(repoState(root)).toEqual(before);
    await writeFile(join(root, 'code/backup'), 'nothing secret\n');
    const ran = await cli.run(['run', '--', 'sh', 'code/job.sh'], root);
    expect(ran.code, ran.stderr).toBe(0);
    const committed = git(root, 'ls-tree', '-r', '--name-only', 'HEAD');
    expect(committed).toContain('code/backup');
    expect(committed).not.toContain('.env');
  });
});
