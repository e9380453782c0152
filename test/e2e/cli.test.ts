import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Cli, cliEnv, collect } from '../helpers/cli.js';
import { git, repoState, tempDir } from '../helpers/project.js';
import { BUSYBOX, containersOf, requireDocker } from '../helpers/docker.js';

let cli: Cli;
let home: string;
let work: string;

beforeAll(async () => {
  requireDocker();
  home = await tempDir('reprise-e2e-home-');
  work = await tempDir('reprise-e2e-');
  cli = new Cli(await cliEnv(home));
  await writeFile(join(home, 'config.yaml'), 'backends:\n  broken:\n    kind: docker\n    socketPath: /nonexistent/docker.sock\n');
});

afterAll(async () => {
  if (cli) await cli.run(['agent', 'stop'], work);
});

async function newProject(name: string): Promise<string> {
  const r = await cli.run(['init', name, '--name', name, '--base', BUSYBOX], work);
  expect(r, r.stderr).toMatchObject({ code: 0 });
  return join(work, name);
}

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface Feed { runId: string; state: string; exitCode: number; commit: string; rerunOf?: string }

describe('a user session with the built CLI', () => {
  it('init creates the layout and a first commit', async () => {
    const root = await newProject('layout');
    for (const p of ['code', 'input', 'output', '.reprise/project.yaml', '.reprise/environment.yaml']) expect(existsSync(join(root, p))).toBe(true);
    expect(git(root, 'log', '--format=%s')).toBe('Create project layout\n');
    expect(git(root, 'status', '--porcelain')).toBe('');
  });

  it('env add / show: a deterministic Dockerfile and hash', async () => {
    const root = await newProject('envs');
    expect((await cli.run(['env', 'add', 'pip', 'numpy==1.26.4'], root)).code).toBe(0);
    const a = await cli.json<{ hash: string; dockerfile: string; image: string }>(['env', 'show'], root);
    const b = await cli.json<{ hash: string; dockerfile: string }>(['env', 'show'], root);
    expect(b).toEqual(expect.objectContaining({ hash: a.hash, dockerfile: a.dockerfile }));
    expect(a.dockerfile).toContain("python3 -m pip install --no-cache-dir 'numpy==1.26.4'");
    expect(a.image).toBe(`reprise/envs:${a.hash.slice(0, 12)}`);
  });

  it('run streams output, records one commit and returns the job exit code', async () => {
    const root = await newProject('runs');
    await writeFile(join(root, 'code/job.sh'), 'echo "args: $*"\necho result > output/result.txt\n');
    // Words equal to a flag's value, and flags, after -- belong to the command, in order.
    const ok = await cli.run(['run', '--cpus', '1', '--memory', '256M', '--time', '5m', '--on', 'local', '--', 'sh', 'code/job.sh', '--n', '3', 'local', '1', '--on'], root);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('args: --n 3 local 1 --on\n');
    expect(ok.stderr).toMatch(/succeeded, exit code 0; recorded in [0-9a-f]{12}/);
    const feed = await cli.json<Feed[]>(['log'], root);
    expect(feed).toHaveLength(1);
    expect(git(root, 'log', '-1', '--format=%(trailers:key=Reprise-State,valueonly)').trim()).toBe('succeeded');
    expect(await readFile(join(root, 'output/result.txt'), 'utf8')).toBe('result\n');
    expect(git(root, 'status', '--porcelain')).toBe('');

    const bad = await cli.run(['run', '--', 'sh', '-c', 'echo failing >&2; exit 5'], root);
    expect(bad.code).toBe(5);
    expect(bad.stdout).toBe('failing\n');
    const show = await cli.json<{ state: string; exitCode: number; resources: object }>(['show', (await cli.json<Feed[]>(['log', '-n', '1'], root))[0]!.runId], root);
    expect(show).toMatchObject({ state: 'failed', exitCode: 5 });

    const typo = await cli.run(['run', '--', 'pyhton3', 'code/job.sh'], root);
    expect(typo.code).toBe(127);
    expect(typo.stderr).toMatch(/failed, exit code 127 \(could not start: exec: "pyhton3": executable file not found in \$PATH\); recorded in/);
    const latest = await cli.json<Feed[]>(['log', '-n', '1'], root);
    expect(latest).toHaveLength(1); // three runs are recorded: -n limits
    expect(latest[0]).toMatchObject({ state: 'failed', exitCode: 127 }); // the mistyped command was recorded
  });

  it('a command starts in the project directory it was launched from, and a rerun from the root keeps it', async () => {
    const root = await newProject('workdir');
    await writeFile(join(root, 'code/where.sh'), 'pwd; ls\n');
    const r = await cli.run(['run', '--', 'sh', 'where.sh'], join(root, 'code'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('/project/code\nwhere.sh\n');
    const [entry] = await cli.json<(Feed & { workdir?: string })[]>(['log'], root);
    expect(entry!.workdir).toBe('code');
    expect((await cli.run(['log'], root)).stdout).toContain('sh where.sh  (in code/)');
    expect(await cli.json<{ workdir?: string }>(['show', entry!.runId], root)).toMatchObject({ workdir: 'code' });
    const runs = await cli.json<{ runId: string; workdir?: string }[]>(['runs'], root);
    expect(runs.find((r) => r.runId === entry!.runId)?.workdir).toBe('code');
    const again = await cli.run(['rerun', entry!.runId], root);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe('/project/code\nwhere.sh\n');
  });

  it('detach, runs, logs --follow and cancel', async () => {
    const root = await newProject('detached');
    const started = await cli.run(['run', '--detach', '--', 'sh', '-c', 'echo tick; sleep 120'], root);
    expect(started.code, started.stderr).toBe(0);
    const runId = started.stdout.trim();
    expect(runId).toMatch(/^run-[a-z2-7]{12}$/);
    await waitFor(async () => {
      const rows = await cli.json<{ runId: string; state: string }[]>(['runs'], root);
      return rows.find((r) => r.runId === runId && r.state === 'running');
    }, 'the run to be running');
    const follower = collect(cli.spawn(['logs', runId.slice(4, 12), '--follow'], root));
    await new Promise((r) => setTimeout(r, 1500));
    const cancel = await cli.run(['cancel', runId], root);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toBe(`run ${runId} cancelled\n`);
    const followed = await follower;
    expect(followed.stdout).toBe('tick\n');
    expect(containersOf(runId)).toEqual([]);
    const [entry] = await cli.json<Feed[]>(['log'], root);
    expect(entry).toMatchObject({ runId, state: 'cancelled', exitCode: 130 });
  });

  it('Ctrl-C on an attached run cancels it and records it as cancelled', async () => {
    const root = await newProject('interrupt');
    const child = cli.spawn(['run', '--', 'sh', '-c', 'echo waiting; sleep 120'], root);
    const result = collect(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    await waitFor(async () => (out.includes('waiting') ? true : undefined), 'the job to start');
    child.kill('SIGINT');
    const r = await result;
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('cancelling');
    const [entry] = await cli.json<Feed[]>(['log'], root);
    expect(entry).toMatchObject({ state: 'cancelled', exitCode: 130 });
  });

  it('rerun executes the recorded source and image and links to the original', async () => {
    const root = await newProject('again');
    await writeFile(join(root, 'code/v.sh'), 'echo v1 | tee output/v.txt\n');
    expect((await cli.run(['run', '--', 'sh', 'code/v.sh'], root)).code).toBe(0);
    const [first] = await cli.json<Feed[]>(['log'], root);
    await writeFile(join(root, 'code/v.sh'), 'echo v2 | tee output/v.txt\n');
    const again = await cli.run(['rerun', first!.runId], root);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe('v1\n');
    const [latest] = await cli.json<Feed[]>(['log'], root);
    expect(latest).toMatchObject({ rerunOf: first!.runId, state: 'succeeded' });
    expect(await readFile(join(root, 'code/v.sh'), 'utf8')).toBe('echo v2 | tee output/v.txt\n');
  });

  it('verify reruns a run and compares its outputs', async () => {
    const root = await newProject('verified');
    await writeFile(join(root, 'code/det.sh'), 'echo 42 > output/answer.txt\n');
    await writeFile(join(root, 'code/nondet.sh'), 'cat /proc/sys/kernel/random/uuid > output/id.txt\n');
    await cli.run(['run', '--', 'sh', 'code/det.sh'], root);
    const [det] = await cli.json<Feed[]>(['log'], root);
    const ok = await cli.run(['verify', det!.runId, '--json'], root);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ original: det!.runId, identical: true, files: [{ path: 'output/answer.txt', verdict: 'same' }] });
    await cli.run(['run', '--', 'sh', 'code/nondet.sh'], root);
    const [nondet] = await cli.json<Feed[]>(['log'], root);
    const differs = await cli.run(['verify', nondet!.runId], root);
    expect(differs.code).toBe(1);
    expect(differs.stdout).toMatch(/output\/id\.txt +differs\nNOT reproduced: 1 of 1 output file\(s\) differ from run-/);
  });

  it('a run survives an agent restart and is recorded once', async () => {
    const root = await newProject('survivor');
    const started = await cli.run(['run', '--detach', '--', 'sh', '-c', 'sleep 4; echo survived > output/s.txt'], root);
    const runId = started.stdout.trim();
    await waitFor(async () => ((await cli.json<{ runId: string; state: string }[]>(['runs'], root)).some((r) => r.runId === runId && r.state === 'running') ? true : undefined), 'running');
    expect((await cli.run(['agent', 'stop'], root)).code).toBe(0);
    expect((await cli.run(['agent', 'status'], root)).code).toBe(3);
    expect((await cli.run(['agent', 'start'], root)).code).toBe(0);
    const follow = await cli.run(['logs', runId, '--follow'], root);
    expect(follow.code, follow.stderr).toBe(0);
    const feed = await cli.json<Feed[]>(['log'], root);
    expect(feed.map((e) => e.runId)).toEqual([runId]);
    expect(await readFile(join(root, 'output/s.txt'), 'utf8')).toBe('survived\n');
  });
});

describe('agent start-up failures', () => {
  it('a worker that cannot start fails the run with exit 3, and agent stop still stops the server it started', async () => {
    const broken = new Cli({ ...(await cliEnv(await tempDir('reprise-e2e-broken-'))), LOG_LEVEL: 'bogus' });
    const root = join(work, 'layout');
    const r = await broken.run(['run', '--', 'true'], root);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^Error: the Reprise worker did not start; see .*worker\.log\n$/);
    const stop = await broken.run(['agent', 'stop'], root);
    expect(stop.stdout).toBe('stopped temporal\n');
  });
});

describe('bad input: one-line error, documented exit code, project untouched', () => {
  let root: string;
  beforeAll(async () => {
    root = await newProject('bad');
    await writeFile(join(root, 'code/pending.sh'), 'echo uncommitted work\n');
    await mkdir(join(root, 'input'), { recursive: true });
  });

  const cases: [string, string[], number, RegExp, ((root: string) => Promise<void>)?][] = [
    ['empty command', ['run', '--'], 2, /^Error: no command given; put it after --/],
    ['unknown backend', ['run', '--on', 'nowhere', '--', 'true'], 2, /^Error: unknown backend "nowhere"; known backends: broken, local/],
    ['bad memory', ['run', '--memory', 'lots', '--', 'true'], 2, /^Error: --memory: invalid memory "lots"/],
    ['bad time', ['run', '--time', 'soon', '--', 'true'], 2, /^Error: --time: invalid time "soon"/],
    ['unknown run id (show)', ['show', 'nosuchrun'], 2, /^Error: no recorded run "nosuchrun" in this project/],
    ['unknown run id (rerun)', ['rerun', 'nosuchrun'], 2, /^Error: no recorded run "nosuchrun"/],
    ['unknown run id (logs)', ['logs', 'nosuchrun'], 2, /^Error: no run "nosuchrun" in this project/],
    ['unknown run id (cancel)', ['cancel', 'nosuchrun'], 2, /^Error: no run "nosuchrun" in this project/],
    ['Docker engine unreachable', ['run', '--on', 'broken', '--', 'true'], 3, /^Error: Docker engine unreachable at \/nonexistent\/docker.sock .*; start Docker or set DOCKER_HOST$/],
    [
      'unknown key in project.yaml',
      ['run', '--', 'true'],
      2,
      /^Error: \.reprise\/project\.yaml: unknown key "colour"; fix the file and retry$/,
      async (r) => writeFile(join(r, '.reprise/project.yaml'), (await readFile(join(r, '.reprise/project.yaml'), 'utf8')) + 'colour: blue\n'),
    ],
    [
      'malformed environment.yaml',
      ['run', '--', 'true'],
      2,
      /^Error: \.reprise\/environment\.yaml is not valid YAML \(line \d+\)/,
      (r) => writeFile(join(r, '.reprise/environment.yaml'), 'base: [unclosed\n'),
    ],
    [
      'base image absent and not pullable',
      ['run', '--', 'true'],
      2,
      /^Error: base image "local\/nothing-here:1" is not present and could not be pulled/,
      (r) => writeFile(join(r, '.reprise/environment.yaml'), 'base: local/nothing-here:1\n'),
    ],
    [
      'image build failure',
      ['run', '--', 'true'],
      2,
      /^Error: image build failed: The command '.*' returned a non-zero code: 9; fix \.reprise\/environment\.yaml/,
      (r) => writeFile(join(r, '.reprise/environment.yaml'), `base: ${BUSYBOX}\ndockerfile:\n  - RUN echo step-output-here && exit 9\n`),
    ],
  ];

  it.each(cases)('%s', async (_name, args, exit, message, prepare) => {
    const original = {
      project: await readFile(join(root, '.reprise/project.yaml'), 'utf8'),
      environment: await readFile(join(root, '.reprise/environment.yaml'), 'utf8'),
    };
    await prepare?.(root);
    const before = repoState(root);
    const r = await cli.run(args, root);
    expect(r.code, r.stderr).toBe(exit);
    const lastLine = r.stderr.trimEnd().split('\n').at(-1)!;
    expect(lastLine).toMatch(message);
    if (_name === 'image build failure') expect(r.stderr).toContain('step-output-here');
    expect(repoState(root)).toEqual(before);
    await writeFile(join(root, '.reprise/project.yaml'), original.project);
    await writeFile(join(root, '.reprise/environment.yaml'), original.environment);
  });

  it('a working directory the source commit does not have (an empty directory)', async () => {
    const empty = join(root, 'input', 'empty');
    await mkdir(empty, { recursive: true });
    const before = repoState(root);
    const r = await cli.run(['run', '--', 'true'], empty);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(/^Error: the directory input\/empty\/ you ran from is not in the run's source commit .*; run from the project root/);
    expect(repoState(root)).toEqual(before);
  });

  it('not inside a project', async () => {
    const r = await cli.run(['run', '--', 'true'], work);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Error: not inside a Reprise project \(no \.reprise\/project\.yaml in .* or above\); cd into a project or run: reprise init/);
  });

  it('errors are JSON with --json', async () => {
    const r = await cli.run(['show', 'nosuchrun', '--json'], root);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ error: { kind: 'NotFound', message: expect.stringMatching(/^no recorded run/), exitCode: 2 } });
  });
});
