import { redactSecrets } from './redact.js';
/** Exit codes are a contract (docs/architecture.md): keep them in one place. */
export const ExitCode = {
  ok: 0,
  jobFailed: 1,
  badInput: 2,
  backendUnavailable: 3,
  /** A bug or an unexpected failure of Reprise itself (sysexits' EX_SOFTWARE): never mistaken for a job's exit 1. */
  internalError: 70,
  cancelled: 130,
} as const;

/**
 * Error kinds that cross process and Temporal boundaries as `ApplicationFailure.type`,
 * so the CLI can map a failed workflow back to the right exit code.
 */
export const ErrorKind = {
  badInput: 'BadInput',
  backendUnavailable: 'BackendUnavailable',
  imageBuildFailed: 'ImageBuildFailed',
  baseImageUnavailable: 'BaseImageUnavailable',
  notFound: 'NotFound',
  cancelled: 'Cancelled',
} as const;
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

export const isErrorKind = (kind: unknown): kind is ErrorKind => Object.values(ErrorKind).includes(kind as ErrorKind);

const exitForKind: Record<ErrorKind, number> = {
  BadInput: ExitCode.badInput,
  BackendUnavailable: ExitCode.backendUnavailable,
  ImageBuildFailed: ExitCode.badInput,
  BaseImageUnavailable: ExitCode.badInput,
  NotFound: ExitCode.badInput,
  Cancelled: ExitCode.cancelled,
};

/** A user-facing error: one line that says what is wrong and how to fix it. */
export class RepriseError extends Error {
  readonly kind: ErrorKind;
  readonly detail?: string;
  constructor(kind: ErrorKind, message: string, options: { detail?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'RepriseError';
    this.kind = kind;
    this.detail = options.detail;
  }
  get exitCode(): number {
    return exitCodeForKind(this.kind);
  }
}

export function exitCodeForKind(kind: string | undefined): number {
  return (kind && exitForKind[kind as ErrorKind]) || ExitCode.jobFailed;
}

export const badInput = (message: string, detail?: string) => new RepriseError(ErrorKind.badInput, message, { detail });
export const notFound = (message: string) => new RepriseError(ErrorKind.notFound, message);
export const backendUnavailable = (message: string, cause?: unknown) =>
  new RepriseError(ErrorKind.backendUnavailable, message, { cause });

/** What an error says, with any URL password hidden: this is what gets printed and recorded. */
export function errorMessage(err: unknown): string {
  return redactSecrets(err instanceof Error ? err.message : String(err));
}
