import { Command, Errors, Flags } from '@oclif/core';
import { readEnv, type RepriseEnv } from '../config/env.js';
import { RepriseError, ExitCode, errorMessage } from '../errors.js';
import { findProjectRoot, loadProject, type Project } from '../project/layout.js';
import { redactSecrets } from '../redact.js';

/**
 * Shared behaviour of all commands: `--json`, and errors rendered as one line with the exit
 * code from the contract (0 ok, 2 bad input, 3 backend unreachable; the job's own code for runs).
 */
export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true;

  protected get env(): RepriseEnv {
    return readEnv();
  }

  protected async project(): Promise<Project> {
    return loadProject(findProjectRoot(process.cwd()));
  }

  /** Human output only; `--json` prints the command's return value instead. */
  protected say(message: string): void {
    if (!this.jsonEnabled()) this.log(message);
  }

  /** Progress and notices go to stderr so stdout stays the command's output. */
  protected note(message: string): void {
    if (!this.jsonEnabled()) process.stderr.write(message + '\n');
  }

  /**
   * Return `result` with exit code `code`: a non-zero code ends the process here, after `--json`
   * printed the result (oclif prints a command's return value only when it exits 0).
   */
  protected withExitCode<T>(result: T, code: number): T {
    if (code !== 0) {
      if (this.jsonEnabled()) this.logJson(result);
      this.exit(code);
    }
    return result;
  }

  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    if (err instanceof Errors.ExitError) throw err;
    let exit: number;
    let kind: string;
    if (err instanceof RepriseError) {
      exit = err.exitCode;
      kind = err.kind;
      if (err.detail && !this.jsonEnabled()) process.stderr.write(redactSecrets(err.detail.trimEnd()) + '\n');
    } else if (err.oclif?.exit !== undefined) {
      exit = err.oclif.exit; // flag and argument parsing errors: usage, exit 2
      kind = 'Usage';
    } else {
      exit = ExitCode.internalError;
      kind = 'Internal';
    }
    const message = errorMessage(err).split('\n')[0]!;
    if (this.jsonEnabled()) this.logJson({ error: { kind, message, exitCode: exit } });
    else process.stderr.write(`Error: ${message}\n`);
    this.exit(exit);
  }
}

export const runIdArg = { description: 'run id (or a unique prefix of it)', required: true } as const;

export const backendFlag = Flags.string({ description: 'backend to run on (see: reprise backend list)', char: 'b' });
