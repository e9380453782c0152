import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorKind, RepriseError } from '../errors.js';

/**
 * User-caused errors become non-retryable failures whose type the CLI maps to an exit code.
 * `transient`: once a job may exist, an unreachable backend is retried (the workflow's policy
 * paces it) rather than losing the run. This is the one place that decides what is final.
 */
export async function guard<T>(fn: () => Promise<T>, options: { transient?: boolean } = {}): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof RepriseError) {
      const nonRetryable = !(options.transient && err.kind === ErrorKind.backendUnavailable);
      throw ApplicationFailure.create({ message: err.message, type: err.kind, nonRetryable, details: err.detail ? [err.detail] : [] });
    }
    throw err;
  }
}

/** Heartbeat while a long step runs (the SDK throttles to the timeout), so a dead worker is noticed. */
export async function withHeartbeat<T>(fn: () => Promise<T>, details?: () => unknown, everyMs = 2_000): Promise<T> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(details?.()), everyMs);
  try {
    return await fn();
  } finally {
    clearInterval(beat);
  }
}
