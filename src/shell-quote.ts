/**
 * Quoting for the remote POSIX shell that runs every SSH exec: each argument becomes one word,
 * whatever it holds (spaces, quotes, $, `, newlines, glob characters). Login shells of the csh
 * family are not supported (their quoting differs).
 */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) throw new Error('a shell argument cannot contain a NUL byte');
  // Inside single quotes nothing is special except the quote itself: close, escape it, reopen.
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The argv as one command line for a POSIX shell. */
export function shellCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('empty command');
  return argv.map(shellQuote).join(' ');
}
