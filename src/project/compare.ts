import type { FileDigest } from './run-record.js';

export type FileVerdict = 'same' | 'differs' | 'missing' | 'extra';

export interface OutputComparison {
  identical: boolean;
  files: { path: string; verdict: FileVerdict; expected?: string; actual?: string }[];
}

/** Compare a rerun's outputs with the original's, file by file (sha256). */
export function compareOutputs(expected: FileDigest[], actual: FileDigest[]): OutputComparison {
  const want = new Map(expected.map((f) => [f.path, f.sha256]));
  const got = new Map(actual.map((f) => [f.path, f.sha256]));
  const paths = [...new Set([...want.keys(), ...got.keys()])].sort();
  const files = paths.map((path) => {
    const e = want.get(path);
    const a = got.get(path);
    const verdict: FileVerdict = e === undefined ? 'extra' : a === undefined ? 'missing' : e === a ? 'same' : 'differs';
    return { path, verdict, expected: e, actual: a };
  });
  return { identical: files.every((f) => f.verdict === 'same'), files };
}
