import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { BUILD_LOG, JOB_LOG, TRANSFER_LOG, type RunResult } from '../activities/types.js';
import { paths } from '../config/env.js';
import type { RunClient } from '../client/runs.js';
import { lastTransfer } from '../images/transfer-progress.js';
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

export interface FollowOptions {
  /** Where the job's output goes (stdout for an attached run). */
  write: (text: string) => void;
  showBuild: boolean;
}

/** Stream a run's build progress and job log until the workflow ends; return its result. */
export async function followRun(client: RunClient, runId: string, options: FollowOptions): Promise<RunResult> {
  const dir = paths.runDir(client.env.home, runId);
  const jobLog = new FileTail(join(dir, JOB_LOG));
  const buildLog = new FileTail(join(dir, BUILD_LOG));
  const transferLog = new FileTail(join(dir, TRANSFER_LOG));
  const progress = new StepProgress('building image', options.showBuild);
  const transfer = new TransferBar(options.showBuild);
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
      const text = await jobLog.read();
      if (text) {
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
