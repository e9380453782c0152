import { ExitCode } from '../errors.js';

/**
 * While a CLI waits on a run or sweep: the first Ctrl-C cancels it (the agent finishes the
 * cancel, the wait goes on to its recorded end), a second stops waiting with exit 130.
 * Returns the function that stops listening.
 */
export function cancelOnInterrupt(id: string, cancel: (id: string) => Promise<unknown>): () => void {
  let interrupts = 0;
  const onInterrupt = () => {
    if (++interrupts > 1) process.exit(ExitCode.cancelled);
    process.stderr.write(`\ncancelling ${id} (Ctrl-C again to stop waiting)\n`);
    void cancel(id).catch(() => undefined);
  };
  process.on('SIGINT', onInterrupt);
  return () => void process.off('SIGINT', onInterrupt);
}
