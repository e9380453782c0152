import type { FollowObserver } from '../client/follow.js';
import { StepProgress, TransferBar } from './progress.js';

/**
 * A followed run's surroundings on the terminal's stderr: the image build's steps, the image
 * transfer, "waiting: <reason>" once per new reason; all end when the job's output begins.
 * `stop()` clears the bars (always call it when following ends).
 */
export function terminalObserver(enabled: boolean): FollowObserver & { stop(): void } {
  const progress = new StepProgress('building image', enabled);
  const transfer = new TransferBar(enabled);
  const stop = () => {
    progress.stop();
    transfer.stop();
  };
  return {
    buildStep: (s) => progress.update(s.step, s.total, s.text),
    transfer: (moved) => {
      progress.stop();
      transfer.update(moved);
    },
    waiting: (reason) => {
      if (enabled) process.stderr.write(`waiting: ${reason}\n`);
    },
    output: stop,
    note: (text) => process.stderr.write(text),
    stop,
  };
}
