// Secrets stay out of a project's history: `reprise init` ignores the usual places, a run
// refuses to sweep a file holding a private key (exit 2, named, nothing committed), and project
// secrets (`reprise secret add`) reach a run read-only at /run/secrets/NAME and nowhere else.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findTemporalBinary } from '../../src/client/temporal-cli.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentTemporalCliEnv, Cli, cliEnv } from '../helpers/cli.js';
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

describe('project secrets', () => {
  const value = `s3cr3t-${randomBytes(12).toString('hex')}`;
  const hash = createHash('sha256').update(value).digest('hex');
  let file: string;
  let home: string;

  beforeAll(async () => {
    home = cli.env.REPRISE_HOME!;
    const dir = await tempDir('reprise-secret-file-');
    file = join(dir, 'api-key.txt');
    await writeFile(file, value);
  });

  it('add, list (names and sizes, never content) and remove; kept 0600 in a 0700 folder of the user config', async () => {
    const added = await cli.run(['secret', 'add', 'API_KEY', file], root);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).not.toContain(value);
    const listed = await cli.json<{ name: string; size: number }[]>(['secret', 'list'], root);
    expect(listed).toEqual([{ name: 'API_KEY', size: value.length }]);
    const human = await cli.run(['secret', 'list'], root);
    expect(human.stdout).toContain('API_KEY');
    expect(human.stdout).not.toContain(value);
    const id = (await readFile(join(root, '.reprise/project.yaml'), 'utf8')).match(/^id: (\S+)$/m)![1]!;
    const dir = join(home, 'secrets', id);
    expect((await stat(join(home, 'secrets'))).mode & 0o777).toBe(0o700);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'API_KEY'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, 'API_KEY'), 'utf8')).toBe(value);
    // Another secret, then removed: list shows only what is left.
    expect((await cli.run(['secret', 'add', 'OTHER', file], root)).code).toBe(0);
    const removed = await cli.json<{ name: string }>(['secret', 'remove', 'OTHER'], root);
    expect(removed.name).toBe('OTHER');
    expect((await cli.json<{ name: string }[]>(['secret', 'list'], root)).map((s) => s.name)).toEqual(['API_KEY']);
    expect(git(root, 'status', '--porcelain')).toBe('');
  });

  it('bad input: exit 2, one line, nothing saved', async () => {
    const big = join(await tempDir('reprise-secret-big-'), 'big');
    await writeFile(big, Buffer.alloc(1024 * 1024 + 1));
    const before = await readdir(join(home, 'secrets'), { recursive: true });
    for (const args of [
      ['add', 'MISSING', '/nonexistent/file'],
      ['add', 'DIR', root],
      ['add', 'bad-name', file],
      ['add', '../x', file],
      ['add', '1X', file],
      ['add', 'BIG', big],
      ['remove', 'NOPE'],
    ]) {
      const r = await cli.run(['secret', ...args], root);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    expect(await readdir(join(home, 'secrets'), { recursive: true })).toEqual(before);
  });

  it('a run reads it at /run/secrets/NAME, cannot write it; the record names it; its content is nowhere in git, the record or the workflow history', async () => {
    await writeFile(
      join(root, 'code/secret.sh'),
      'sha256sum /run/secrets/API_KEY | cut -c1-64 > output/hash.txt\n' +
        'if echo x > /run/secrets/API_KEY 2>/dev/null; then echo written >> output/writes.txt; fi\n' +
        'if rm -f /run/secrets/API_KEY 2>/dev/null && [ ! -e /run/secrets/API_KEY ]; then echo removed >> output/writes.txt; fi\n' +
        'if touch /run/secrets/NEW 2>/dev/null; then echo created >> output/writes.txt; fi\n' +
        'touch output/writes.txt\n',
    );
    const r = await cli.run(['run', '--json', '--', 'sh', 'code/secret.sh'], root);
    expect(r.code, r.stderr).toBe(0);
    const { runId } = JSON.parse(r.stdout) as { runId: string };
    expect((await readFile(join(root, 'output/hash.txt'), 'utf8')).trim()).toBe(hash);
    expect(await readFile(join(root, 'output/writes.txt'), 'utf8')).toBe('');
    // The user's copy is unchanged, and the run's copy is gone from the worker's run directory.
    expect(await readFile(join(home, 'secrets', (await readdir(join(home, 'secrets')))[0]!, 'API_KEY'), 'utf8')).toBe(value);
    expect(await readdir(join(home, 'runs', runId)).catch(() => [])).not.toContain('secrets');
    const record = JSON.parse(await readFile(join(root, `.reprise/activity/${runId}.json`), 'utf8')) as { secrets?: string[] };
    expect(record.secrets).toEqual(['API_KEY']);
    const objects = execFileSync('git', ['cat-file', '--batch-all-objects', '--batch'], { cwd: root, maxBuffer: 1 << 28 });
    expect(objects.includes(value)).toBe(false);
    const raw = execFileSync(findTemporalBinary(), ['workflow', 'show', '--workflow-id', runId, '--output', 'json'], { maxBuffer: 1 << 28, env: { ...process.env, ...(await agentTemporalCliEnv(cli.env)) } }).toString();
    // Payloads are base64 JSON in this output: read decoded as well as raw.
    const history = raw + [...raw.matchAll(/"data": "([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1]!, 'base64').toString()).join('\n');
    expect(history).toContain('"secrets":["API_KEY"]'); // the handle names it...
    expect(history).not.toContain(value); // ...never its content
    expect(history).not.toContain(Buffer.from(value).toString('base64'));
    const show = await cli.run(['show', runId], root);
    expect(show.stdout).toContain('secrets    API_KEY (at /run/secrets/)');
    expect(show.stdout).not.toContain(value);
  });
});
