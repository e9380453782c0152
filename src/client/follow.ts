import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunResult } from '../activities/types.js';
import { LogFollower } from './log-follower.js';
import { BUILD_LOG, JOB_LOG, paths, TRANSFER_LOG } from '../config/env.js';
import { lastTransfer, type TransferProgress } from '../images/transfer-progress.js';
import type { RunService } from './run-service.js';
import { pullRecord } from './team.js';

/** Appends what a growing file gained since the last call. A rewritten (shorter) file is read on once it passes the offset again. */
class FileTail {
  private offset = 0;
  constructor(private readonly file: string) {}

  async read(): Promise<string> {
    let fh;
    try {
      fh = await open(this.file, 'r');
    } catch {
      return '';
    }
    try {
      const { size } = await fh.stat();
      if (size <= this.offset) return '';
      const buf = Buffer.alloc(size - this.offset);
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
      this.offset += bytesRead;
      return buf.subarray(0, bytesRead).toString();
    } finally {
      await fh.close();
    }
  }
}

/** The last "Step N/M : ..." of a docker build log. */
export function lastBuildStep(log: string): { step: number; total: number; text: string } | undefined {
  const matches = [...log.matchAll(/^Step (\d+)\/(\d+) : (.*)$/gm)];
  const m = matches.at(-1);
  return m ? { step: Number(m[1]), total: Number(m[2]), text: m[3]! } : undefined;
}

/** What happens around the job's output while a run is followed (a terminal shows it; a browser may not). */
export interface FollowObserver {
  buildStep?(step: { step: number; total: number; text: string }): void;
  transfer?(moved: TransferProgress): void;
  /** Why the job waits (the scheduler's reason), each time it changes. */
  waiting?(reason: string): void;
  /** The job's output begins (or the job waits): progress displays end here. */
  output?(): void;
  /** Something the user should know that is not the job's output. */
  note?(text: string): void;
}

export interface FollowOptions {
  /** Where the job's output goes (stdout for an attached run). */
  write: (text: string | Buffer) => void;
  observer?: FollowObserver;
  /** Team mode: the local project the run's record is brought into when it ends. */
  projectRoot?: string;
  /** Stop following (the reader left): resolves to undefined, the run goes on. */
  signal?: AbortSignal;
}

/** Calls `changed` once per new reason. */
function changes(changed: (reason: string) => void): (reason: string | undefined) => void {
  let last: string | undefined;
  return (reason) => {
    if (reason && reason !== last) changed(reason);
    last = reason;
  };
}

/** The run's result, or undefined once `signal` aborts (the long poll on Temporal is given up with it). */
function settle(client: RunService, runId: string, signal: AbortSignal | undefined) {
  let settled: { result?: RunResult; error?: unknown } | undefined;
  const done = client.result(runId, signal).then(
    (result) => (settled = { result }),
    (error: unknown) => (settled = { error }),
  );
  const aborted = new Promise<void>((resolve) => (signal?.aborted ? resolve() : signal?.addEventListener('abort', () => resolve(), { once: true })));
  return {
    get settled() {
      return signal?.aborted ? undefined : settled;
    },
    get stopped() {
      return Boolean(settled) || Boolean(signal?.aborted);
    },
    /** Waits `ms`, less when the run ends or the reader leaves. */
    pause: (ms: number) => Promise.race([done, aborted, new Promise((r) => setTimeout(r, ms).unref())]),
  };
}

/**
 * Follow a team run from a machine that shares nothing with its worker: the output comes from
 * awaitJob's heartbeats (a window of its latest bytes, about once a second), the rest from the
 * record once it is published, so what is printed is the whole log exactly once.
 */
async function followTeamRun(client: RunService, runId: string, options: FollowOptions & { projectRoot: string }): Promise<RunResult | undefined> {
  const follower = new LogFollower();
  const waiting = changes((reason) => options.observer?.waiting?.(reason));
  const run = settle(client, runId, options.signal);
  let branch: string | undefined;
  while (!run.stopped) {
    const seen = await client.awaitDetails(runId).catch(() => undefined);
    branch ??= seen?.teamBranch;
    waiting(seen?.details?.waiting);
    const { text, skipped } = follower.next(seen?.details?.log);
    if (skipped) options.write(`[… ${skipped} bytes not shown while following; the whole log is in the record …]\n`);
    if (text.length) options.write(text);
    await run.pause(500);
  }
  const settled = run.settled;
  if (!settled) return undefined;
  if (settled.error) throw settled.error;
  const result = settled.result!;
  branch ??= (await client.awaitDetails(runId).catch(() => undefined))?.teamBranch;
  if (branch) {
    const { log, merged } = await pullRecord(options.projectRoot, { branch }, runId, result.commit);
    const rest = follower.rest(log);
    if (rest.length) options.write(rest);
    if (!merged) options.observer?.note?.(`the record of ${runId} is on the remote; bring it here with: reprise sync\n`);
  }
  return result;
}

/**
 * Stream a run's build progress and job log until the workflow ends; return its result, or
 * undefined when `signal` stopped the following first (the run itself goes on).
 */
export async function followRun(client: RunService, runId: string, options: FollowOptions): Promise<RunResult | undefined> {
  if (client.env.team && options.projectRoot) return followTeamRun(client, runId, { ...options, projectRoot: options.projectRoot });
  const observer = options.observer ?? {};
  const dir = paths.runDir(client.env.home, runId);
  const jobLog = new FileTail(join(dir, JOB_LOG));
  const buildLog = new FileTail(join(dir, BUILD_LOG));
  const transferLog = new FileTail(join(dir, TRANSFER_LOG));
  const waiting = changes((reason) => observer.waiting?.(reason));
  let asked = 0;
  let started = false;
  let buildText = '';
  const run = settle(client, runId, options.signal);
  for (;;) {
    buildText += await buildLog.read();
    const step = lastBuildStep(buildText);
    if (step) observer.buildStep?.(step);
    const moved = lastTransfer(await transferLog.read());
    if (moved) observer.transfer?.(moved);
    // Why the job waits, from awaitJob's heartbeat: asked once a second until the job runs
    // (a running job waits no more), said when it changes.
    if (!started && Date.now() - asked > 1000 && !run.stopped) {
      asked = Date.now();
      const seen = await client.awaitDetails(runId).catch(() => undefined);
      started = seen?.details?.phase === 'running' || seen?.details?.phase === 'exited';
      if (seen?.details?.waiting) observer.output?.();
      waiting(seen?.details?.waiting);
    }
    const text = await jobLog.read();
    if (text) {
      started = true;
      observer.output?.();
      options.write(text);
    }
    if (run.stopped) break;
    // unref: a pending poll timer must not hold the process open once the run is done.
    await run.pause(200);
  }
  const settled = run.settled;
  if (!settled) return undefined;
  const rest = await jobLog.read();
  if (rest) options.write(rest);
  if (settled.error) throw settled.error;
  return settled.result!;
}
