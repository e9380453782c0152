import { specsAt } from '../project/environment-at.js';
import { keyPartDigests, keyPartsAt, recordSubject, runKey, type KeyParts } from '../project/run-key.js';
import type { RunRecord } from '../project/run-record.js';
import { table } from './table.js';

/** A run's key as `reprise show RUN --key` reports it: each part, its value and its digest. */
export interface KeyView {
  runId: string;
  key: string;
  /** The key in the record; absent for runs recorded before keys. */
  recordedKey?: string;
  parts: { part: string; digest: string; value: unknown }[];
}

export async function keyView(root: string, record: RunRecord): Promise<KeyView> {
  const { project } = await specsAt(root, record.sourceCommit);
  const parts = await keyPartsAt(root, recordSubject(record), project.reuse);
  const digests = new Map(keyPartDigests(parts).map((d) => [d.part, d.digest]));
  return {
    runId: record.runId,
    key: runKey(parts),
    ...(record.key ? { recordedKey: record.key } : {}),
    parts: [...digests].map(([part, digest]) => ({ part, digest, value: parts[part as keyof KeyParts] })),
  };
}

export function keyText(v: KeyView): string {
  const recorded = v.recordedKey === undefined ? ' (the record has none: recorded before run keys)' : v.recordedKey === v.key ? '' : ` (the record says ${v.recordedKey})`;
  const shown = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));
  return [`run   ${v.runId}`, `key   ${v.key}${recorded}`, table(['PART', 'DIGEST', 'VALUE'], v.parts.map((p) => [p.part, p.digest, shown(p.value)]))].join('\n');
}
