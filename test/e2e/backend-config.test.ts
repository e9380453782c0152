// `reprise backend add|list|check|remove` as a user types them, for every kind and the pool:
// each refusal is one line, exit 2, and leaves config.yaml as it was. No engine or cluster needed.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Cli, cliEnv } from '../helpers/cli.js';
import { tempDir } from '../helpers/project.js';

let cli: Cli;
let home: string;
const config = () => readFile(join(home, 'config.yaml'), 'utf8');
const unreachable = ['--kind', 'docker', '--socket', '/nonexistent/docker.sock'];

beforeAll(async () => {
  home = await tempDir('reprise-backend-config-');
  cli = new Cli(await cliEnv(home));
  for (const add of [
    ['hpc', '--kind', 'slurm', '--host', 'login', '--user', 'me', '--known-hosts-file', '/dev/null', '--max-parallel', '2'],
    ['k8s', '--kind', 'kubernetes', '--namespace', 'runs', '--registry', 'registry.example/team'],
    ['gone', ...unreachable],
    ['lost', ...unreachable],
  ]) {
    const r = await cli.run(['backend', 'add', ...add], '/');
    expect(r, r.stderr).toMatchObject({ code: 0 });
  }
});

describe('backend add --kind pool: bad input is one line, exit 2, nothing written', () => {
  const add = (...flags: string[]) => ['backend', 'add', 'burst', '--kind', 'pool', ...flags];
  const wait = ['--max-queue-wait', '5m'];
  const recursive = "a pool's members must be docker, slurm or kubernetes backends (no recursive pools)";
  it.each([
    ['an unknown member', add('--member', 'hpc', '--member', 'gpu', ...wait), '--member names unknown backend "gpu"; known backends: gone, hpc, k8s, local, lost'],
    ['the pool itself', add('--member', 'hpc', '--member', 'burst', ...wait), `--member names the pool itself ("burst"): ${recursive}`],
    ['a member twice', add('--member', 'hpc', '--member', 'hpc', ...wait), '--member names "hpc" twice; list each member once'],
    ['one member', add('--member', 'hpc', ...wait), '--member must name at least two backends, in the order they are tried'],
    ['no wait', add('--member', 'hpc', '--member', 'k8s'), '--max-queue-wait is required'],
    ...['0s', '-1m', 'abc', '30d'].map((w): [string, string[], string] => [
      `the wait ${w}`,
      add('--member', 'hpc', '--member', 'k8s', `--max-queue-wait=${w}`),
      `--max-queue-wait must be a duration from 1s to 7d, e.g. 20s, 5m or 1h (got "${w}")`,
    ]),
    ['a preferred non-member', add('--member', 'hpc', '--member', 'k8s', ...wait, '--prefer', 'local'), '--prefer must be one of the members (hpc, k8s), not "local"'],
  ])('%s', async (_name, args, message) => {
    const before = await config();
    const r = await cli.run(args, '/');
    expect(r).toEqual({ code: 2, stdout: '', stderr: `Error: invalid backend settings for --kind pool: ${message}\n` });
    expect(await config()).toBe(before);
  });

  it('flags of other kinds, and --max-parallel, do not apply to a pool', async () => {
    const r = await cli.run(add('--member', 'hpc', '--member', 'k8s', ...wait, '--max-parallel', '2', '--host', 'x'), '/');
    expect(r).toEqual({ code: 2, stdout: '', stderr: 'Error: --max-parallel, --host does not apply to --kind pool; leave it out\n' });
  });

  it('--json: the refusal as JSON', async () => {
    const r = await cli.run([...add('--member', 'hpc', '--member', 'gpu', ...wait), '--json'], '/');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ error: { kind: 'BadInput', message: expect.stringContaining('names unknown backend "gpu"'), exitCode: 2 } });
  });
});

describe('a pool in use', () => {
  beforeAll(async () => {
    expect(await cli.json(['backend', 'add', 'burst', '--kind', 'pool', '--member', 'hpc', '--member', 'k8s', '--max-queue-wait', '20s', '--prefer', 'k8s'], '/')).toEqual({
      name: 'burst',
      config: { kind: 'pool', members: ['hpc', 'k8s'], maxQueueWait: '20s', prefer: 'k8s' },
    });
  });

  it('backend list shows each kind settings, max parallel and the pool members and wait', async () => {
    const r = await cli.run(['backend', 'list'], '/');
    expect(r.stdout.split('\n')).toEqual([
      'NAME   KIND        SETTINGS',
      'local  docker      DOCKER_HOST or the local socket',
      'hpc    slurm       me@login, charliecloud; max parallel 2',
      'k8s    kubernetes  current context/runs, registry registry.example/team',
      'gone   docker      /nonexistent/docker.sock',
      'lost   docker      /nonexistent/docker.sock',
      'burst  pool        members hpc, k8s; max queue wait 20s; prefers k8s',
      '',
    ]);
    expect((await cli.json<Record<string, unknown>>(['backend', 'list'], '/')).hpc).toMatchObject({ kind: 'slurm', maxParallel: 2 });
  });

  it('a member cannot become a pool (recursive), nor be removed while the pool names it', async () => {
    const before = await config();
    const recursive = await cli.run(['backend', 'add', 'k8s', '--kind', 'pool', '--member', 'local', '--member', 'hpc', '--max-queue-wait', '1m'], '/');
    expect(recursive).toMatchObject({ code: 2, stderr: 'Error: cannot add "k8s" as a pool: pool "burst" names "k8s", itself a pool: a pool\'s members must be docker, slurm or kubernetes backends (no recursive pools)\n' });
    const remove = await cli.run(['backend', 'remove', 'k8s'], '/');
    expect(remove).toMatchObject({ code: 2, stderr: 'Error: backend "k8s" is used by pool "burst"; remove "burst" first, or add "burst" again without "k8s"\n' });
    expect(await config()).toBe(before);
  });

  it('backend check of a pool checks every member; exit 3 naming the unreachable ones', async () => {
    expect((await cli.run(['backend', 'add', 'dead', '--kind', 'pool', '--member', 'gone', '--member', 'lost', '--max-queue-wait', '1m'], '/')).code).toBe(0);
    const r = await cli.run(['backend', 'check', 'dead'], '/');
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^dead: gone \(docker\): unreachable: .*\ndead: lost \(docker\): unreachable: .*\n$/);
    expect(r.stderr).toBe('Error: pool dead: 2 of 2 members unreachable (gone, lost); check them one by one for what to fix\n');
  });

  it('a hand-edited config.yaml with a bad pool: one line naming the file and key, exit 2', async () => {
    const good = await config();
    try {
      await writeFile(join(home, 'config.yaml'), good.replace('maxQueueWait: 20s', 'maxQueueWait: 30d'));
      expect(await cli.run(['backend', 'list'], '/')).toEqual({
        code: 2,
        stdout: '',
        stderr: `Error: ${join(home, 'config.yaml')}: key "backends.burst.maxQueueWait": must be a duration from 1s to 7d, e.g. 20s, 5m or 1h (got "30d"); fix the file and retry\n`,
      });
      await writeFile(join(home, 'config.yaml'), good.replace('      - k8s\n', '      - burst\n'));
      expect((await cli.run(['backend', 'list'], '/')).stderr).toBe(
        `Error: ${join(home, 'config.yaml')}: key "backends.burst.members": names the pool itself ("burst"): a pool's members must be docker, slurm or kubernetes backends (no recursive pools); fix the file and retry\n`,
      );
    } finally {
      await writeFile(join(home, 'config.yaml'), good);
    }
  });
});
