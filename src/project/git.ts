import { execFile, spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { redactError, redactSecrets } from '../redact.js';

const execFileP = promisify(execFile);

export interface GitOptions {
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
}

/**
 * A working tree and the device and inode of its `.git`: what answers git gave about a repository
 * are kept under it, since they hold while the same `.git` is there (undefined: no `.git`, as in
 * a bare repository, so nothing is kept).
 */
export async function dotGitIdentity(dir: string): Promise<string | undefined> {
  const dotGit = await stat(join(dir, '.git')).catch(() => undefined);
  return dotGit && `${dir}\0${dotGit.dev}:${dotGit.ino}`;
}

/** Git directories found, by dotGitIdentity (see Git.gitDir). */
const gitDirs = new Map<string, string>();

/** A git repository driven through the git CLI (argv only, never a shell). */
export class Git {
  private gitDirPath?: Promise<string>;
  private identity?: Promise<NodeJS.ProcessEnv>;

  constructor(readonly dir: string) {}

  /** The absolute .git directory: asked of git once per repository while the same `.git` (device and inode) is there. */
  gitDir(): Promise<string> {
    this.gitDirPath ??= (async () => {
      const id = await dotGitIdentity(this.dir);
      const known = id && gitDirs.get(id);
      if (known) return known;
      const dir = (await this.run(['rev-parse', '--absolute-git-dir'])).trim();
      if (id) gitDirs.set(id, dir);
      return dir;
    })();
    return this.gitDirPath;
  }

  /**
   * Author/committer env for commits: the user's own identity, else a fallback for each part
   * they lack (asked once). Git takes GIT_AUTHOR_NAME and its kin from the environment before
   * user.name/user.email from its config, so a part set either way is left to git.
   */
  identityEnv(): Promise<NodeJS.ProcessEnv> {
    this.identity ??= this.tryRun(['config', '--get-regexp', '^user\\.(name|email)$']).then((out) => {
      const keys = new Set((out ?? '').split('\n').map((l) => l.split(' ')[0]));
      const lacks = (variable: string) => !process.env[variable] && !keys.has(`user.${variable.endsWith('_NAME') ? 'name' : 'email'}`);
      return Object.fromEntries(Object.entries(fallbackIdentity).filter(([variable]) => lacks(variable)));
    });
    return this.identity;
  }

  async run(args: string[], options: GitOptions = {}): Promise<string> {
    const env = { ...process.env, ...options.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' };
    if (options.input !== undefined) return this.runWithInput(args, env, options.input);
    // git echoes a remote's URL in its errors, password and all when the user's config holds one.
    const { stdout } = await execFileP('git', args, { cwd: this.dir, env, maxBuffer: 256 * 2 ** 20 }).catch((err: unknown) => Promise.reject(redactError(err)));
    return stdout;
  }

  private runWithInput(args: string[], env: NodeJS.ProcessEnv, input: string | Buffer): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn('git', args, { cwd: this.dir, env });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) resolve(Buffer.concat(out).toString());
        else reject(new Error(`git ${args[0]} failed (${code}): ${redactSecrets(Buffer.concat(err).toString().trim())}`));
      });
      child.stdin.end(input);
    });
  }

  /**
   * A command's output as text chunks, read as it comes (a large blob is never whole in memory).
   * Stopping early (break, or `signal`) ends the process; a failure throws at the end, with git's message.
   */
  async *stream(args: string[], signal?: AbortSignal): AsyncGenerator<string> {
    const child = spawn('git', args, { cwd: this.dir, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' }, signal, stdio: ['ignore', 'pipe', 'pipe'] });
    const err: Buffer[] = [];
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.on('error', () => undefined); // an abort: `closed` settles, the loop below ends
    child.stdout.setEncoding('utf8'); // characters split across chunks are joined, not broken
    try {
      for await (const text of child.stdout) yield text as string;
      const code = await closed;
      if (code !== 0 && !signal?.aborted) throw new Error(`git ${args[0]} failed (${code}): ${redactSecrets(Buffer.concat(err).toString().trim())}`);
    } finally {
      if (child.exitCode === null) child.kill();
    }
  }

  async tryRun(args: string[], options: GitOptions = {}): Promise<string | undefined> {
    try {
      return await this.run(args, options);
    } catch {
      return undefined;
    }
  }

  /** For commands whose exit code is an answer (merge-tree: 1 = conflicts), not a failure. */
  async runWithCode(args: string[]): Promise<{ code: number; stdout: string }> {
    try {
      return { code: 0, stdout: await this.run(args) };
    } catch (err) {
      const { code, stdout } = err as { code?: unknown; stdout?: string };
      if (typeof code === 'number') return { code, stdout: stdout ?? '' };
      throw err;
    }
  }

  async revParse(rev: string): Promise<string | undefined> {
    return (await this.tryRun(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]))?.trim() || undefined;
  }

  /** The ref HEAD points at (refs/heads/main), or "HEAD" when detached. */
  async headRef(): Promise<string> {
    return (await this.tryRun(['symbolic-ref', '-q', 'HEAD']))?.trim() || 'HEAD';
  }

  async hashObject(content: string | Buffer): Promise<string> {
    return (await this.run(['hash-object', '-w', '--stdin'], { input: content })).trim();
  }

  async commitTree(tree: string, parents: string[], message: string, env?: NodeJS.ProcessEnv): Promise<string> {
    const args = ['commit-tree', tree, ...parents.flatMap((p) => ['-p', p])];
    return (await this.run(args, { input: message, env })).trim();
  }

  /** Compare-and-swap a ref: fails if it no longer points at `expected`. */
  async updateRef(ref: string, value: string, expected: string, reason: string): Promise<boolean> {
    try {
      await this.run(['update-ref', '-m', reason, ref, value, expected]);
      return true;
    } catch {
      return false;
    }
  }
}

/** The identity used when the user has none configured, so commits never fail for it. */
const fallbackIdentity = {
  GIT_AUTHOR_NAME: 'Reprise',
  GIT_AUTHOR_EMAIL: 'reprise@localhost',
  GIT_COMMITTER_NAME: 'Reprise',
  GIT_COMMITTER_EMAIL: 'reprise@localhost',
};

/** The line of git's stderr that says why, without its "error:"/"fatal:" prefix. */
export function gitReason(err: unknown): string {
  const stderr = String((err as { stderr?: string }).stderr ?? (err as Error).message ?? err);
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines.find((l) => /^(fatal|error):/.test(l)) ?? lines.find((l) => !l.startsWith('Command failed')) ?? lines[0] ?? 'unknown error';
  return line.replace(/^(fatal|error):\s*/, '');
}
