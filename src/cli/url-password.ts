// A git remote's password without putting it on Reprise's own command line: every local account
// reads a process's argv with `ps`, so `--password-stdin` (as `docker login` has it) reads it from
// standard input and joins it to the URL in this process only; a password typed in the URL
// itself still works, with a warning saying so.
import type { Readable } from 'node:stream';
import { badInput } from '../errors.js';
import { urlCredentials } from '../redact.js';

/** At most this much is read from stdin for a password (no honest password is longer). */
const MAX_PASSWORD = 64 * 1024;

/** Standard input as text (a password, a webhook URL), up to `max` bytes (more is bad input, named by `flag`). */
export async function readPasswordFrom(input: Readable, flag = '--password-stdin', max = MAX_PASSWORD): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += b.length;
    if (size > max) throw badInput(`${flag}: more than ${max} bytes on standard input; give the secret alone`);
    chunks.push(b);
  }
  // One trailing newline (echo, a here-string, a file) is not part of the password.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/**
 * The URL git is to use: with `passwordStdin`, `url` must name the user and no password
 * (`https://alice@host/…`), and the password read from `input` is joined to it here, in memory.
 * Without it the URL is taken as given; `warn` is told when it carries a password.
 */
export async function urlWithPassword(url: string, passwordStdin: boolean, input: Readable, warn: (message: string) => void, example: string): Promise<string> {
  const inUrl = urlCredentials(url);
  if (!passwordStdin) {
    if (inUrl) warn(`warning: a password in the URL on the command line is visible to every account on this machine (ps) while this command runs; use ${example} --password-stdin and give the password on standard input`);
    return url;
  }
  if (inUrl) throw badInput('--password-stdin: the URL carries a password already; give the URL with the user name only (https://alice@host/…)');
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^\s/?#@:]+)@([^\s/?#]+)(.*)$/i.exec(url);
  if (!m) throw badInput('--password-stdin: give a URL that names the user, e.g. https://alice@git.example.org/team/fit.git (the password comes from standard input)');
  const password = await readPasswordFrom(input);
  if (!password) throw badInput('--password-stdin: standard input held no password');
  const [, scheme, user, host, rest] = m as unknown as [string, string, string, string, string];
  return `${scheme}://${user}:${encodeURIComponent(password)}@${host}${rest}`;
}
