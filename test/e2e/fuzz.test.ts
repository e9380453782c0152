// The built CLI under generated bad input: every case exits 2 with exactly one line on stderr
// ("Error: …", no stack trace) and leaves the project as it was. A sample (the unit fuzz suite
// runs 1,000+ cases per parser in-process; here each case is a whole CLI start).
import fc from 'fast-check';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, cliEnv } from '../helpers/cli.js';
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
      fc.constantFrom('0', '-1', 'NaN', 'Infinity', '1e999', '', ' ', '2 G', '4GB!', '1h30', '--', '$(id)', '\n', 'ünï'),
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
  }, 120_000);

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
});
