/**
 * A long run history, made fast and in the real format: `count` activity commits appended to a
 * project's current branch with one `git fast-import`, each exactly what `recordRun` commits for
 * a finished run (subject and trailers from `commitMessage`, `.reprise/activity/<id>.json` and
 * `.log`, the run's output file), then the working tree and index brought to the new head.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { newRunId } from '../src/client/ids.js';
import { commitMessage, type RunRecord } from '../src/project/run-record.js';
import { mustExec } from './lib.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export interface GeneratedHistory {
  runIds: string[];
  seconds: number;
}

/** The project's spec as `init` wrote it (name and id go into every record). */
export interface ProjectIds {
  name: string;
  id: string;
}

export async function generateHistory(root: string, project: ProjectIds, count: number): Promise<GeneratedHistory> {
  const started = process.hrtime.bigint();
  const git = (args: string[]) => mustExec(`git ${args[0]}`, 'git', args, { cwd: root, env: process.env });
  const branch = (await git(['symbolic-ref', 'HEAD'])).stdout.trim();
  const head = (await git(['rev-parse', 'HEAD'])).stdout.trim();
  const environment = sha256(`environment of ${project.id}`);
  const image = `sha256:${sha256(`image of ${project.id}`)}`;
  const t0 = Date.parse('2026-01-01T00:00:00Z') / 1000;

  const importer = spawn('git', ['fast-import', '--quiet', '--done'], { cwd: root, stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  importer.stderr.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((resolve, reject) => {
    importer.on('error', reject);
    importer.on('close', resolve);
  });
  const write = async (chunk: string) => {
    if (!importer.stdin.write(chunk)) await new Promise((r) => importer.stdin.once('drain', r));
  };
  const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`;

  const runIds: string[] = [];
  for (let i = 0; i < count; i++) {
    const runId = newRunId();
    runIds.push(runId);
    const start = t0 + i * 60;
    const failed = i % 17 === 16;
    const log = `seed ${i}\n${failed ? 'Traceback (most recent call last):\nValueError: did not converge\n' : 'converged\n'}`;
    const output = `seed=${i} loss=${(1 / (i + 1)).toFixed(6)}\n`;
    const record: RunRecord = {
      version: 1,
      runId,
      project: { name: project.name, id: project.id },
      command: ['python3', 'code/fit.py', '--seed', String(i)],
      state: failed ? 'failed' : 'succeeded',
      exitCode: failed ? 1 : 0,
      backend: { name: 'local', kind: 'docker', jobId: sha256(runId) },
      sourceCommit: head,
      image: { digest: image, tag: `reprise/${project.name}:${environment.slice(0, 12)}` },
      environment,
      resources: {},
      startedAt: new Date(start * 1000).toISOString(),
      finishedAt: new Date((start + 2) * 1000).toISOString(),
      outputs: failed ? [] : [{ path: 'output/result.txt', sha256: sha256(output), size: Buffer.byteLength(output) }],
      log: { path: `.reprise/activity/${runId}.log`, sha256: sha256(log), size: Buffer.byteLength(log) },
    };
    const who = `Bench <bench@example.com> ${start + 2} +0000`;
    await write(
      `commit ${branch}\nauthor ${who}\ncommitter ${who}\n${data(commitMessage(record))}` +
        (i === 0 ? `from ${head}\n` : '') +
        `M 100644 inline .reprise/activity/${runId}.json\n${data(JSON.stringify(record, null, 2) + '\n')}` +
        `M 100644 inline .reprise/activity/${runId}.log\n${data(log)}` +
        (failed ? '' : `M 100644 inline output/result.txt\n${data(output)}`),
    );
  }
  await write('done\n');
  importer.stdin.end();
  const code = await exited;
  if (code !== 0) throw new Error(`git fast-import failed (exit ${code}): ${stderr.trim()}`);
  // The branch moved under the checkout: bring index and working tree to it.
  await git(['reset', '--hard', '-q', 'HEAD']);
  return { runIds, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}
