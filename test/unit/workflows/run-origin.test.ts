// A run's modes are decided once (src/workflows/run-origin.ts): every combination a client, a
// sweep or a lab sends resolves to where the source and the image come from and what the run is;
// every other combination is refused by the one field that makes it invalid.
import { ApplicationFailure } from '@temporalio/common';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { PreparedImage, RunInput, TeamRun } from '../../../src/activities/types.js';
import type { JobHandle } from '../../../src/backends/types.js';
import { rerunOf, resolveRunInput, runOrigin, sweepOf, teamOf, type RunOrigin } from '../../../src/workflows/run-origin.js';

const commit = 'a'.repeat(40);
const other = 'b'.repeat(40);
const digest = `sha256:${'c'.repeat(64)}`;
const image: PreparedImage = { digest, environment: 'e'.repeat(12), reused: true };
const sources = { sourceCommit: commit, swept: false, branch: 'refs/heads/main' };
const team: TeamRun = { remote: 'git@example.org:lab/project.git', branch: 'refs/heads/main', sourceCommit: commit, image: { ...image, reference: `registry.example.org/p@${digest}` } };
const rerun = { runId: 'run-original', sourceCommit: commit, imageDigest: digest };
const sweep = { sweepId: 'sweep-abc', index: 3, params: { lr: '0.1' } };
const handle: JobHandle = { kind: 'slurm', runId: 'run-abc', jobId: '12_3' };
const lab = { port: 8888, checkpointSeconds: 60 };

const input = (over: Partial<RunInput> = {}): RunInput => ({ runId: 'run-abc', projectRoot: '/p', backend: 'local', command: ['true'], resources: {}, ...over });
const resolved = (over: Partial<RunInput>) => {
  const r = resolveRunInput(input(over));
  if (!('origin' in r)) throw new Error(`refused: ${r.conflict.field} ${r.conflict.why}`);
  return r.origin;
};

describe('resolving a run input once', () => {
  it.each<[string, Partial<RunInput>, RunOrigin]>([
    ['a new run', {}, { role: 'run', source: { kind: 'snapshot', projectRoot: '/p' }, image: { kind: 'build' } }],
    ['a new run that may be reused', { reuse: true }, { role: 'run', source: { kind: 'snapshot', projectRoot: '/p' }, image: { kind: 'build' } }],
    [
      'a rerun',
      { rerun },
      { role: 'run', source: { kind: 'recorded', projectRoot: '/p', commit, runId: 'run-original' }, image: { kind: 'recorded', digest }, rerunOf: 'run-original' },
    ],
    [
      'a rerun of a pushed image',
      { rerun: { ...rerun, imageReference: 'r.example.org/p@x' } },
      { role: 'run', source: { kind: 'recorded', projectRoot: '/p', commit, runId: 'run-original' }, image: { kind: 'recorded', digest, reference: 'r.example.org/p@x' }, rerunOf: 'run-original' },
    ],
    ['a team run', { projectRoot: '', team }, { role: 'run', source: { kind: 'remote', team }, image: { kind: 'given', image: team.image } }],
    ['a team run that may be reused', { projectRoot: '', team, reuse: true }, { role: 'run', source: { kind: 'remote', team }, image: { kind: 'given', image: team.image } }],
    ['a team rerun', { projectRoot: '', team, rerun }, { role: 'run', source: { kind: 'remote', team }, image: { kind: 'given', image: team.image }, rerunOf: 'run-original' }],
    [
      "a sweep's point",
      { sweep, prepared: { sources, image }, placementStart: 3 },
      { role: 'point', sweep, source: { kind: 'prepared', projectRoot: '/p', sources }, image: { kind: 'given', image } },
    ],
    [
      "a sweep's point that may be reused",
      { sweep, prepared: { sources, image }, placementStart: 3, reuse: true },
      { role: 'point', sweep, source: { kind: 'prepared', projectRoot: '/p', sources }, image: { kind: 'given', image } },
    ],
    [
      "a sweep's point without a placement start",
      { sweep, prepared: { sources, image } },
      { role: 'point', sweep, source: { kind: 'prepared', projectRoot: '/p', sources }, image: { kind: 'given', image } },
    ],
    [
      "an element of a sweep's job array",
      { sweep, prepared: { sources, image }, placementStart: 3, attached: { handle } },
      { role: 'element', sweep, handle, source: { kind: 'prepared', projectRoot: '/p', sources }, image: { kind: 'given', image } },
    ],
    [
      "an element of a sweep's job array that may be reused",
      { sweep, prepared: { sources, image }, placementStart: 3, attached: { handle }, reuse: true },
      { role: 'element', sweep, handle, source: { kind: 'prepared', projectRoot: '/p', sources }, image: { kind: 'given', image } },
    ],
    ['a lab session', { lab }, { role: 'lab', lab, source: { kind: 'snapshot', projectRoot: '/p' }, image: { kind: 'build' } }],
    // Where placement starts on a pool is a parameter of placing any run, not a mode.
    ['a new run placed from the third member on', { placementStart: 2 }, { role: 'run', source: { kind: 'snapshot', projectRoot: '/p' }, image: { kind: 'build' } }],
    ['a lab session with reuse off', { lab, reuse: false }, { role: 'lab', lab, source: { kind: 'snapshot', projectRoot: '/p' }, image: { kind: 'build' } }],
  ])('%s', (_, over, origin) => {
    expect(resolved(over)).toEqual(origin);
  });

  it.each<[string, Partial<RunInput>, string, string]>([
    ['a lab rerun', { lab, rerun }, 'rerun', 'is refused in a lab session'],
    ['a team lab', { lab, team }, 'team', 'is refused in a lab session'],
    ['a lab in a sweep', { lab, sweep }, 'sweep', 'is refused in a lab session'],
    ['a lab on prepared sources', { lab, prepared: { sources, image } }, 'prepared', 'is refused in a lab session'],
    ['a lab placed like a point', { lab, placementStart: 0 }, 'placementStart', 'is refused in a lab session'],
    ['an attached lab', { lab, attached: { handle } }, 'attached', 'is refused in a lab session'],
    ['a reused lab', { lab, reuse: true }, 'reuse', 'is refused in a lab session'],
    ['prepared sources outside a sweep', { prepared: { sources, image } }, 'prepared', 'needs sweep'],
    ['an attached run outside a sweep', { attached: { handle } }, 'attached', 'needs sweep'],
    ['an attached run on prepared sources outside a sweep', { prepared: { sources, image }, attached: { handle } }, 'prepared', 'needs sweep'],
    ["a sweep's point without prepared sources", { sweep, placementStart: 1 }, 'sweep', 'needs prepared'],
    ["an array element without prepared sources", { sweep, attached: { handle } }, 'sweep', 'needs prepared'],
    ["a rerun as a sweep's point", { sweep, prepared: { sources, image }, rerun }, 'rerun', "is refused in a sweep's point"],
    ["a team run as a sweep's point", { projectRoot: '', sweep, prepared: { sources, image }, team }, 'team', 'sweeps do not run in team mode'],
    ['a rerun that may be reused', { rerun, reuse: true }, 'reuse', 'a rerun executes again, never reuses'],
    ['a team rerun that may be reused', { projectRoot: '', team, rerun, reuse: true }, 'reuse', 'a rerun executes again'],
    ['a team rerun of another commit', { projectRoot: '', team: { ...team, sourceCommit: other }, rerun }, 'team.sourceCommit', `must be the rerun's recorded commit ${commit}`],
    ['a team rerun of another image', { projectRoot: '', team, rerun: { ...rerun, imageDigest: `sha256:${'d'.repeat(64)}` } }, 'team.image.digest', "must be the rerun's recorded image"],
  ])('refuses %s by the field that makes it invalid', (_, over, field, why) => {
    const r = resolveRunInput(input(over));
    expect('conflict' in r && r.conflict.field).toBe(field);
    expect('conflict' in r && r.conflict.why).toContain(why);
  });

  it('fails a refused combination for good, as a bad input naming the field', () => {
    const err = (() => {
      try {
        runOrigin(input({ attached: { handle } }));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('BadInput');
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as ApplicationFailure).message).toMatch(/^refused workflow input: input\.attached needs sweep/);
  });

  it('says whose remote, which sweep and which run a rerun executes again', () => {
    expect(rerunOf(resolved({ rerun }))).toBe('run-original');
    expect(rerunOf(resolved({ projectRoot: '', team, rerun }))).toBe('run-original');
    expect(rerunOf(resolved({ projectRoot: '', team }))).toBeUndefined();
    expect(rerunOf(resolved({ sweep, prepared: { sources, image } }))).toBeUndefined();
    expect(teamOf(resolved({ projectRoot: '', team }))).toEqual(team);
    expect(teamOf(resolved({ rerun }))).toBeUndefined();
    expect(sweepOf(resolved({ sweep, prepared: { sources, image } }))).toEqual(sweep);
    expect(sweepOf(resolved({ sweep, prepared: { sources, image }, attached: { handle } }))).toEqual(sweep);
    expect(sweepOf(resolved({ lab }))).toBeUndefined();
  });

  // Workflows in flight carry the inputs their clients sent: every recorded one must still resolve.
  it('resolves the inputs of every recorded history', () => {
    const root = fileURLToPath(new URL('../../fixtures/histories', import.meta.url));
    const inputs = readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((d) => readdirSync(join(root, d.name)).filter((f) => /^(runProject|labSession)-\d+\.json$/.test(f)).map((f) => join(root, d.name, f)))
      .map((file) => {
        const history = JSON.parse(readFileSync(file, 'utf8')) as { events: { workflowExecutionStartedEventAttributes: { input: { payloads: { data: string }[] } } }[] };
        return JSON.parse(Buffer.from(history.events[0]!.workflowExecutionStartedEventAttributes.input.payloads[0]!.data, 'base64').toString()) as RunInput;
      });
    expect(inputs.length).toBeGreaterThan(5);
    const roles = inputs.map((i) => {
      const r = resolveRunInput(i);
      expect(r).toHaveProperty('origin');
      return 'origin' in r ? `${r.origin.source.kind}/${r.origin.image.kind}/${r.origin.role}` : '';
    });
    expect(new Set(roles)).toEqual(new Set(['snapshot/build/run', 'prepared/given/point', 'recorded/recorded/run', 'snapshot/build/lab']));
  });
});
