import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { BUILD_LOG, JOB_LOG, TRANSFER_LOG, type RunResult } from '../activities/types.js';
import { paths } from '../config/env.js';
import type { RunClient } from '../client/runs.js';
import { lastTransfer } from '../images/transfer-progress.js';
import { LogFollower } from '../activities/log-tail.js';
import { pullRecord } from '../client/team.js';
import { lastBuildStep, StepProgress, TransferBar } from './progress.js';

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

/** "waiting: <the scheduler's reason>" on stderr, once per new reason. */
class WaitingNote {
  private last?: string;
  constructor(private readonly enabled: boolean) {}

  update(reason: string | undefined): void {
    if (reason && reason !== this.last && this.enabled) process.stderr.write(`waiting: ${reason}\n`);
    this.last = reason;
  }
}

export interface FollowOptions {
  /** Where the job's output goes (stdout for an attached run). */
  write: (text: string | Buffer) => void;
  showBuild: boolean;
  /** Team mode: the local project the run's record is brought into when it ends. */
  projectRoot?: string;
}

/**
 * Follow a team run from a machine that shares nothing with its worker: the output comes from
 * awaitJob's heartbeats (a window of its latest bytes, about once a second), the rest from the
 * record once it is published, so what is printed is the whole log exactly once.
 */
async function followTeamRun(client: RunClient, runId: string, options: FollowOptions & { projectRoot: string }): Promise<RunResult> {
  const follower = new LogFollower();
  const waiting = new WaitingNote(options.showBuild);
  let settled: { result?: RunResult; error?: unknown } | undefined;
  const done = client.result(runId).then(
    (result) => (settled = { result }),
    (error: unknown) => (settled = { error }),
  );
  let branch: string | undefined;
  while (!settled) {
    const seen = await client.awaitDetails(runId).catch(() => undefined);
    branch ??= seen?.teamBranch;
    waiting.update(seen?.details?.waiting);
    const { text, skipped } = follower.next(seen?.details?.log);
    if (skipped) options.write(`[… ${skipped} bytes not shown while following; the whole log is in the record …]\n`);
    if (text.length) options.write(text);
    await Promise.race([done, new Promise((r) => setTimeout(r, 500).unref())]);
  }
  if (settled.error) throw settled.error;
  const result = settled.result!;
  branch ??= (await client.awaitDetails(runId).catch(() => undefined))?.teamBranch;
  if (branch) {
    const { log, merged } = await pullRecord(options.projectRoot, { branch }, runId, result.commit);
    const rest = follower.rest(log);
    if (rest.length) options.write(rest);
    if (!merged) process.stderr.write(`the record of ${runId} is on the remote; bring it here with: reprise sync\n`);
  }
  return result;
}

/** Stream a run's build progress and job log until the workflow ends; return its result. */
export async function followRun(client: RunClient, runId: string, options: FollowOptions): Promise<RunResult> {
  if (client.env.team && options.projectRoot) return followTeamRun(client, runId, { ...options, projectRoot: options.projectRoot });
  const dir = paths.runDir(client.env.home, runId);
  const jobLog = new FileTail(join(dir, JOB_LOG));
  const buildLog = new FileTail(join(dir, BUILD_LOG));
  const transferLog = new FileTail(join(dir, TRANSFER_LOG));
  const progress = new StepProgress('building image', options.showBuild);
  const transfer = new TransferBar(options.showBuild);
  const waiting = new WaitingNote(options.showBuild);
  let asked = 0;
  let started = false;
  let buildText = '';
  let settled: { result?: RunResult; error?: unknown } | undefined;
  const done = client.result(runId).then(
    (result) => (settled = { result }),
    (error: unknown) => (settled = { error }),
  );
  try {
    for (;;) {
      buildText += await buildLog.read();
      const step = lastBuildStep(buildText);
      if (step) progress.update(step.step, step.total, step.text);
      const moved = lastTransfer(await transferLog.read());
      if (moved) {
        progress.stop();
        transfer.update(moved);
      }
      // Why the job waits, from awaitJob's heartbeat: asked once a second until the job runs
      // (a running job waits no more), said when it changes.
      if (!started && Date.now() - asked > 1000 && !settled) {
        asked = Date.now();
        const seen = await client.awaitDetails(runId).catch(() => undefined);
        started = seen?.details?.phase === 'running' || seen?.details?.phase === 'exited';
        if (seen?.details?.waiting) {
          progress.stop();
          transfer.stop();
        }
        waiting.update(seen?.details?.waiting);
      }
      const text = await jobLog.read();
      if (text) {
        started = true;
        progress.stop();
        transfer.stop();
        options.write(text);
      }
      if (settled) break;
      // unref: a pending poll timer must not hold the process open once the run is done.
      await Promise.race([done, new Promise((r) => setTimeout(r, 200).unref())]);
    }
    const rest = await jobLog.read();
    if (rest) options.write(rest);
  } finally {
    progress.stop();
    transfer.stop();
  }
  if (settled.error) throw settled.error;
  return settled.result!;
}
