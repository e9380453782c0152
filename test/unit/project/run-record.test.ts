import { describe, expect, it } from 'vitest';
import { commitMessage, feedEntryFromTrailers, matchId, matchRunId, parseTrailers, type RunRecord } from '../../../src/project/run-record.js';

export const sampleRecord: RunRecord = {
  version: 1,
  runId: 'run-abcdefgh2345',
  project: { name: 'demo', id: 'p1' },
  command: ['python3', 'code/fit.py', '--seed', '1'],
  state: 'succeeded',
  exitCode: 0,
  backend: { name: 'local', kind: 'docker', jobId: 'c0ffee' },
  sourceCommit: 'a'.repeat(40),
  image: { digest: `sha256:${'b'.repeat(64)}`, tag: 'reprise/demo:bbbbbbbbbbbb' },
  environment: 'c'.repeat(64),
  resources: {},
  startedAt: '2026-11-27T10:00:00.000Z',
  finishedAt: '2026-11-27T10:00:05.000Z',
  outputs: [],
  log: { path: '.reprise/activity/run-abcdefgh2345.log', sha256: 'd'.repeat(64), size: 0 },
};

describe('run commit message', () => {
  it('has the contract subject and trailers', () => {
    const msg = commitMessage({ ...sampleRecord, rerunOf: 'run-zzzzzzzz2222' });
    const [subject, blank, ...rest] = msg.split('\n');
    expect(subject).toBe('run abcdefgh: python3 code/fit.py --seed 1 [succeeded]');
    expect(blank).toBe('');
    expect(rest.filter(Boolean)).toEqual([
      'Reprise-Run: run-abcdefgh2345',
      'Reprise-State: succeeded',
      'Reprise-Backend: local (docker)',
      'Reprise-Command: ["python3","code/fit.py","--seed","1"]',
      `Reprise-Source-Commit: ${'a'.repeat(40)}`,
      `Reprise-Image: sha256:${'b'.repeat(64)}`,
      `Reprise-Environment: ${'c'.repeat(64)}`,
      'Reprise-Exit-Code: 0',
      'Reprise-Started: 2026-11-27T10:00:00.000Z',
      'Reprise-Finished: 2026-11-27T10:00:05.000Z',
      'Reprise-Rerun-Of: run-zzzzzzzz2222',
    ]);
  });

  it('names the working directory in a trailer only when the command did not start at the root', () => {
    expect(parseTrailers(commitMessage(sampleRecord))).not.toHaveProperty('Reprise-Workdir');
    const trailers = parseTrailers(commitMessage({ ...sampleRecord, workdir: 'code/models' }));
    expect(trailers['Reprise-Workdir']).toBe('code/models');
    expect(feedEntryFromTrailers('f'.repeat(40), 'subject', trailers)?.workdir).toBe('code/models');
  });

  it('keeps a multi-line command on one trailer line and round-trips it', () => {
    const record = { ...sampleRecord, command: ['sh', '-c', 'echo a\necho b'] };
    const trailers = parseTrailers(commitMessage(record));
    expect(JSON.parse(trailers['Reprise-Command']!)).toEqual(record.command);
    expect(feedEntryFromTrailers('f'.repeat(40), 'subject', trailers)?.command).toEqual(record.command);
  });
});

describe('matchRunId', () => {
  const ids = ['run-abcdefgh2345', 'run-abcdzzzz2345', 'run-qqqqqqqq2345'];
  it('takes a full id, a prefix with or without run-, and nothing else', () => {
    expect(matchRunId(ids, 'run-qqqqqqqq2345')).toBe('run-qqqqqqqq2345');
    expect(matchRunId(ids, 'qqq')).toBe('run-qqqqqqqq2345');
    expect(matchRunId(ids, 'run-abcde')).toBe('run-abcdefgh2345');
    expect(matchRunId(ids, 'nope')).toBeUndefined();
  });
  it('refuses an ambiguous prefix', () => {
    expect(() => matchRunId(ids, 'abcd')).toThrow('run id "abcd" is ambiguous (2 runs match); give more characters');
  });
  it('matches sweeps and lab sessions by their own prefix, never another kind\'s', () => {
    const sweeps = ['sweep-abcdefgh2345', 'sweep-abcdzzzz2345'];
    expect(matchId(sweeps, 'abcde', 'sweep')).toBe('sweep-abcdefgh2345');
    expect(matchId(sweeps, 'sweep-abcdz', 'sweep')).toBe('sweep-abcdzzzz2345');
    expect(matchId(sweeps, 'run-abcde', 'sweep')).toBeUndefined();
    expect(() => matchId(sweeps, 'abcd', 'sweep')).toThrow('sweep id "abcd" is ambiguous (2 sweeps match); give more characters');
    expect(() => matchId(['lab-aaaa1', 'lab-aaaa2'], 'lab-aaaa', 'lab', 'sessions')).toThrow('lab id "lab-aaaa" is ambiguous (2 sessions match); give more characters');
  });
});
