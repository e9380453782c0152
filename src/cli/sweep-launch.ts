import { cancelOnInterrupt } from './cancel-on-interrupt.js';
import type { SweepInput, SweepPointResult, SweepResult } from '../activities/types.js';
import { newWorkflowId } from '../client/ids.js';
import { RunClient } from '../client/runs.js';
import type { RepriseEnv } from '../config/env.js';
import { ExitCode } from '../errors.js';
import { assertLocalSweeps } from '../client/sweep-retry.js';

/** Sweep ids are workflow ids: "sweep-" + 12 base32 characters. */
export const newSweepId = () => newWorkflowId('sweep');

export const pointText = (p: Pick<SweepPointResult, 'params'>) => Object.entries(p.params).map(([k, v]) => `${k}=${v}`).join(' ');

function pointLine(p: SweepPointResult): string {
  const exit = p.exitCode === undefined ? '' : `, exit code ${p.exitCode}`;
  const where = p.backend ? ` on ${p.backend}` : '';
  const why = p.reason ? ` (${p.reason})` : '';
  return `point ${p.index} [${pointText(p)}]: ${p.runId} ${p.state}${where}${exit}${why}`;
}

export function sweepExitCode(result: SweepResult): number {
  if (result.state === 'succeeded') return ExitCode.ok;
  if (result.state === 'cancelled') return ExitCode.cancelled;
  return ExitCode.jobFailed;
}

/**
 * Start a sweep; attached, print each point as it ends (stderr) and wait for the summary.
 * Ctrl-C cancels the sweep (every running point is stopped and recorded as cancelled).
 */
export async function launchSweep(env: RepriseEnv, input: SweepInput, options: { detach: boolean; json: boolean }): Promise<SweepResult | undefined> {
  assertLocalSweeps(env);
  const client = await RunClient.connect(env, { start: true });
  try {
    await client.startSweep(input);
    if (options.detach) return undefined;
    const say = (text: string) => (options.json ? undefined : process.stderr.write(text + '\n'));
    say(`sweep ${input.sweepId}: ${input.points.length} points on ${input.backend}${input.maxParallel ? `, at most ${input.maxParallel} at once` : ''}`);
    const stopListening = cancelOnInterrupt(input.sweepId, (id) => client.cancel(id));
    const shown = new Set<number>(input.retry?.kept.map((p) => p.index) ?? []);
    let settled: { result?: SweepResult; error?: unknown } | undefined;
    const done = client.sweepResult(input.sweepId).then(
      (result) => (settled = { result }),
      (error: unknown) => (settled = { error }),
    );
    try {
      while (!settled) {
        const progress = await client.sweepProgress(input.sweepId).catch(() => undefined);
        for (const p of progress?.points ?? []) {
          if (p.state !== 'not-started' && !shown.has(p.index)) {
            shown.add(p.index);
            say(pointLine(p));
          }
        }
        await Promise.race([done, new Promise((r) => setTimeout(r, 500).unref())]);
      }
    } finally {
      stopListening();
    }
    if (settled.error) throw settled.error;
    const result = settled.result!;
    for (const p of result.points) if (!shown.has(p.index)) say(pointLine(p));
    return result;
  } finally {
    await client.close();
  }
}

export function describeSweep(result: SweepResult): string {
  const tally = new Map<string, number>();
  for (const p of result.points) tally.set(p.state, (tally.get(p.state) ?? 0) + 1);
  const counts = [...tally].map(([s, n]) => `${n} ${s}`).join(', ');
  return `sweep ${result.sweepId} ${result.state}: ${result.points.length} points (${counts}); recorded in ${result.commit.slice(0, 12)}`;
}
