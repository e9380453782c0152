// The built CLI under generated bad input: every case exits 2 with exactly one line on stderr
// ("Error: …", no stack trace) and leaves the project as it was. A sample (the unit fuzz suite
// runs 1,000+ cases per parser in-process; here each case is a whole CLI start).
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binRun, Cli, cliEnv } from '../helpers/cli.js';
import { BUSYBOX, requireDocker } from '../helpers/docker.js';
import { repoState, tempDir } from '../helpers/project.js';

let cli: Cli;
let root: string;

beforeAll(async () => {
  requireDocker();
  cli = new Cli(await cliEnv(await tempDir('reprise-fuzz-home-')));
  const work = await tempDir('reprise-fuzz-');
  expect((await cli.run(['init', 'fuzz', '--name', 'fuzz', '--base', BUSYBOX], work)).code).toBe(0);
  root = join(work, 'fuzz');
});

afterAll(async () => {
  await cli?.run(['agent', 'stop'], root);
});

function expectOneLineRefusal(r: { code: number; stderr: string }, what: string): void {
  expect(r.code, `${what}: ${r.stderr}`).toBe(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, what).toHaveLength(1);
  expect(lines[0], what).toMatch(/^Error: \S/);
  expect(r.stderr, what).not.toMatch(/\n\s+at /);
}

describe('generated bad input through the built CLI', () => {
  it('resource flags: 24 generated bad values, each exit 2 in one line, nothing recorded', async () => {
    const bad = fc.oneof(
      fc.constantFrom('0', '-1', 'NaN', 'Infinity', '1e999', '1e308', '0:00', '00:00:00', '0s', '65T', '400d', '2000', '', ' ', '2 G', '4GB!', '1h30', '--', '$(id)', '\n', 'ünï'),
      fc.stringMatching(/^[a-z%$!#]{1,6}$/),
    );
    const cases = fc.sample(fc.tuple(fc.constantFrom('--cpus', '--memory', '--time'), bad), { numRuns: 24, seed: 7 });
    const before = repoState(root);
    for (const [flag, value] of cases) {
      const r = await cli.run(['run', `${flag}=${value}`, '--', 'true'], root);
      expectOneLineRefusal(r, `${flag}=${JSON.stringify(value)}`);
    }
    expect(repoState(root)).toEqual(before);
    expect(await cli.json<unknown[]>(['log'], root)).toEqual([]);
  }, 300_000);

  it('project.yaml and environment.yaml: 12 generated corruptions, each exit 2 in one line', async () => {
    const corruptions = fc.sample(
      fc.tuple(
        fc.constantFrom('.reprise/project.yaml', '.reprise/environment.yaml'),
        fc.oneof(fc.fullUnicodeString({ maxLength: 60 }), fc.constantFrom('name: [', 'id: 1\nname: UPPER', 'base: ""', 'packages: {pip: ["a b"]}', 'extra: 1', '- a\n- b', ': :')),
      ),
      { numRuns: 12, seed: 11 },
    );
    for (const [file, text] of corruptions) {
      const path = join(root, file);
      const original = await readFile(path, 'utf8');
      await writeFile(path, text);
      const before = repoState(root);
      const r = await cli.run(file.endsWith('project.yaml') ? ['log'] : ['env', 'show'], root);
      // A corruption that happens to be valid is fine: then the command works.
      if (r.code !== 0) expectOneLineRefusal(r, `${file} = ${JSON.stringify(text)}`);
      expect(repoState(root)).toEqual(before);
      await writeFile(path, original);
    }
  }, 120_000);

  it('the bounds that once ran: --time 0:00 and --cpus 1e308 exit 2, nothing recorded', async () => {
    const before = repoState(root);
    for (const flags of [['--time', '0:00'], ['--cpus', '1e308'], ['--memory', '1000T'], ['--time', '9999d']]) {
      expectOneLineRefusal(await cli.run(['run', ...flags, '--', 'true'], root), flags.join(' '));
    }
    expect(repoState(root)).toEqual(before);
  }, 120_000);

  it('backend add: 10 generated bad SLURM settings, each exit 2 in one line naming the flag, config.yaml not written', async () => {
    const config = join(cli.env.REPRISE_HOME!, 'config.yaml');
    const before = existsSync(config) ? await readFile(config, 'utf8') : undefined;
    const bad = fc.oneof(fc.constantFrom('a b', 'debug\n#SBATCH --uid=0', '$(id)', "x'y", 'x"y', '', 'a\\b'), fc.stringMatching(/^[ $;|&'"]{1,3}[a-z]{0,3}$/));
    const cases = fc.sample(fc.tuple(fc.constantFrom('--partition', '--account', '--qos', '--sbatch-arg'), bad), { numRuns: 10, seed: 16 });
    for (const [flag, value] of cases) {
      const r = await cli.run(['backend', 'add', 'hpc', '--kind', 'slurm', '--host', 'login', `${flag}=${value}`], root);
      expectOneLineRefusal(r, `${flag}=${JSON.stringify(value)}`);
      expect(r.stderr).toContain(flag);
    }
    expect(existsSync(config) ? await readFile(config, 'utf8') : undefined).toBe(before);
  }, 120_000);

  it('a bad key in config.yaml is one line with exit 2 at load; an internal error exits 70, never the job\'s 1', async () => {
    const home = await tempDir('reprise-fuzz-home-');
    await writeFile(join(home, 'config.yaml'), 'backends:\n  hpc: {kind: slurm, host: login, partition: "debug; rm -rf ~"}\n');
    const other = new Cli({ ...cli.env, REPRISE_HOME: home });
    const r = await other.run(['backend', 'list'], root);
    expectOneLineRefusal(r, 'partition in config.yaml');
    expect(r.stderr).toMatch(/key "backends\.hpc\.partition": must be a SLURM partition name/);
    const internal = await new Cli({ ...cli.env, REPRISE_HOME: '/dev/null/home' }).run(['backend', 'add', 'box', '--kind', 'docker'], root);
    expect(internal.code, internal.stderr).toBe(70);
    expect(internal.stderr.trimEnd().split('\n')).toHaveLength(1);
  }, 120_000);

  it("logs and show on a terminal strip the job's escape sequences; redirected, the log keeps its bytes", async () => {
    const r = await cli.run(['run', '--', 'sh', '-c', "printf 'a\\033]0;pwned\\007b\\033[31mred\\033[0m\\033[2Jc\\n'"], root);
    expect(r.code, r.stderr).toBe(0);
    const [run] = await cli.json<{ runId: string }[]>(['log'], root);
    expect((await cli.run(['logs', run!.runId], root)).stdout).toBe('a\x1b]0;pwned\x07b\x1b[31mred\x1b[0m\x1b[2Jc\n');
    // script(1) gives the CLI a terminal for stdout.
    const onTty = (args: string[]) => execFileSync('script', ['-qec', [process.execPath, binRun, ...args].map((a) => `'${a}'`).join(' '), '/dev/null'], { cwd: root, env: cli.env, encoding: 'utf8' });
    expect(onTty(['logs', run!.runId])).toBe('abredc\r\n');
    const shown = onTty(['show', run!.runId]);
    expect(shown).toContain('abredc');
    expect(shown).not.toContain('\x1b');
  }, 300_000);

  it("an attached run's live output on a terminal is stripped too; redirected, it keeps its bytes", async () => {
    await writeFile(join(root, 'code/hostile.sh'), "printf 'a\\033]0;pwned\\007b\\033[31mred\\033[0m\\033[2Jc\\n'\n");
    const piped = await cli.run(['run', '--', 'sh', 'code/hostile.sh'], root);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout).toBe('a\x1b]0;pwned\x07b\x1b[31mred\x1b[0m\x1b[2Jc\n');
    // script(1) gives the CLI a terminal for stdout (stderr, its own progress, goes elsewhere).
    const command = `'${process.execPath}' '${binRun}' run -- sh code/hostile.sh 2>/dev/null`;
    const live = execFileSync('script', ['-qec', command, '/dev/null'], { cwd: root, env: cli.env, encoding: 'utf8' });
    expect(live).toContain('abredc');
    expect(live).not.toContain('\x1b');
    expect(live).not.toContain('\x07');
  }, 300_000);
});
