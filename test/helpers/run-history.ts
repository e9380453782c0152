import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { crc32, deflateSync } from 'node:zlib';
import { commitMessage, type RunRecord } from '../../src/project/run-record.js';

/** A 1×1 PNG: an image output the dashboard shows inline. */
export const TINY_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

/** A w×h PNG of diagonal stripes (RGB), large enough to be seen in a screenshot. */
export function stripesPng(w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type), data])));
    return Buffer.concat([len, Buffer.from(type), data, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(w, 0);
  header.writeUInt32BE(h, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const rows = Array.from({ length: h }, (_, y) => Buffer.from([0, ...Array.from({ length: w }, (_, x) => (((x + y) >> 3) % 2 ? [11, 79, 179] : [240, 168, 0])).flat()]));
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header), chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}

const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
/** A run id made from a number (stable, so tests and benches can name runs). */
export const fakeRunId = (i: number) => 'run-' + Array.from(createHash('sha256').update(String(i)).digest().subarray(0, 12), (b) => alphabet[b % 32]).join('');

/**
 * `n` recorded runs on the checked-out branch, written as plain git commits (git fast-import:
 * record, log and outputs, the trailers `reprise run` writes), not by running anything. Run i
 * has state failed when i % 10 === 9, backend hpc (slurm) when i is odd; run 0 has a PNG output.
 * Each ran HEAD's sources unless `sourceCommits[i]` names others.
 */
export function writeRunHistory(root: string, n: number, project: { name: string; id: string }, sourceCommits: string[] = [], logs: Record<number, Buffer> = {}): RunRecord[] {
  const branch = spawnSync('git', ['symbolic-ref', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim();
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim();
  const chunks: Buffer[] = [];
  const data = (b: Buffer | string) => {
    const buf = Buffer.from(b);
    chunks.push(Buffer.from(`data ${buf.length}\n`), buf, Buffer.from('\n'));
  };
  const records: RunRecord[] = [];
  for (let i = 0; i < n; i++) {
    const runId = fakeRunId(i);
    const at = new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString();
    const log = logs[i] ?? Buffer.from(`hello from run ${i}\n`);
    const outputs = i === 0 ? [{ path: 'output/plot.png', bytes: TINY_PNG }, { path: 'output/table.csv', bytes: Buffer.from('a,b\n1,2\n') }] : [{ path: `output/r${i}.txt`, bytes: Buffer.from(`${i}\n`) }];
    const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const record: RunRecord = {
      version: 1,
      runId,
      project,
      command: ['sh', '-c', `echo run ${i}`],
      state: i % 10 === 9 ? 'failed' : 'succeeded',
      exitCode: i % 10 === 9 ? 1 : 0,
      backend: i % 2 ? { name: 'hpc', kind: 'slurm', jobId: String(1000 + i) } : { name: 'docker', kind: 'docker' },
      sourceCommit: sourceCommits[i] ?? head,
      image: { digest: `sha256:${'0'.repeat(64)}` },
      environment: 'f'.repeat(64),
      resources: { cpus: 1 },
      startedAt: at,
      finishedAt: at,
      outputs: outputs.map((o) => ({ path: o.path, sha256: digest(o.bytes), size: o.bytes.length })),
      log: { path: `.reprise/activity/${runId}.log`, sha256: digest(Buffer.from(log)), size: log.length },
    };
    records.push(record);
    chunks.push(Buffer.from(`commit ${branch}\ncommitter Bench <bench@example.com> ${1767225600 + i * 60} +0000\n`));
    data(commitMessage(record));
    if (i === 0) chunks.push(Buffer.from(`from ${head}\n`));
    chunks.push(Buffer.from(`M 100644 inline .reprise/activity/${runId}.json\n`));
    data(JSON.stringify(record, null, 2) + '\n');
    chunks.push(Buffer.from(`M 100644 inline .reprise/activity/${runId}.log\n`));
    data(log);
    for (const o of outputs) {
      chunks.push(Buffer.from(`M 100644 inline ${o.path}\n`));
      data(o.bytes);
    }
  }
  const imported = spawnSync('git', ['fast-import', '--quiet'], { cwd: root, input: Buffer.concat(chunks), maxBuffer: 2 ** 30 });
  if (imported.status !== 0) throw new Error(`git fast-import failed: ${imported.stderr.toString()}`);
  // The branch moved under the working tree: bring index and files to it (nothing of the user's is here).
  spawnSync('git', ['reset', '-q', '--hard'], { cwd: root });
  return records;
}
