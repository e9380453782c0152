// The fault "a user's own commits while the run is recorded": from the moment the job runs until
// after the run ended, the user keeps committing on the run's branch in the same working tree with
// plain git (edit code/user.txt, `git add`, `git commit`), and keeps an uncommitted edit in
// notes/draft.txt. Their git meets what a real user's would: index.lock held by another git
// (Reprise moving the index after its record), or the branch moved under `git commit` (the record
// published between git reading HEAD and moving it); each is retried, and counted.
//
// Then, beyond the harness's count (the run recorded once, completed), what must hold:
// - the record commit is in the branch's history, and changes over its parent only the run's files
//   (built on a stale head it would revert the user's edits);
// - every commit git said it made is in the branch's history (a record that overwrote the branch,
//   an update-ref without the old value, loses them), each in order, with the user's text;
// - no commit after the record touches the record's files (a user commit made from an index the
//   record had not moved yet deletes them), and the tip holds them;
// - the working tree holds the user's edits (code/user.txt as committed, notes/draft.txt as last
//   written), `git status` shows only the draft, and `git fsck` is clean.
// Figures: the user's commits (beneath and on top of the record), their index.lock and
// moved-branch retries, the record's commits left unreachable (each a swap the record lost to a
// user's commit) and the user's (each a `git commit` refused because the branch moved, or lost).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FaultContext, FaultEnd } from './harness.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const USER_FILE = 'code/user.txt';
const DRAFT = 'notes/draft.txt';
/** The user goes on committing this long after the run ended, and at least this many commits. */
const AFTER_END_MS = 2000;
const AFTER_END_COMMITS = 5;

/** The user's environment: their identity, none of the test's git variables. */
const userEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_AUTHOR_NAME: 'A User', GIT_AUTHOR_EMAIL: 'user@example.org', GIT_COMMITTER_NAME: 'A User', GIT_COMMITTER_EMAIL: 'user@example.org' };
  for (const k of Object.keys(env)) if (k.startsWith('GIT_') && !k.startsWith('GIT_AUTHOR_') && !k.startsWith('GIT_COMMITTER_')) delete env[k];
  return env;
};

interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function git(root: string, args: string[]): Promise<GitResult> {
  try {
    const r = await run('git', args, { cwd: root, env: userEnv(), encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

async function gitOut(root: string, args: string[]): Promise<string> {
  const r = await git(root, args);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

const indexLocked = (stderr: string) => /index\.lock'?: File exists/.test(stderr);
/** `git commit` refusing because the branch moved after it read HEAD ("cannot lock ref 'HEAD': is at … but expected …"). */
const refMoved = (stderr: string) => /cannot lock ref|but expected|cannot update ref/i.test(stderr);

/**
 * Starts the user's commits on the run's branch; returns the harness's `finish`, which lets them
 * go on a while past the run's end, stops them and checks what must hold.
 */
export async function userCommitsDuringRecord(ctx: FaultContext, runId: string): Promise<() => Promise<FaultEnd>> {
  const root = ctx.root;
  const tag = runId.replace(/^run-/, '').slice(0, 8);
  const ref = (await gitOut(root, ['symbolic-ref', 'HEAD'])).trim();
  const problems: string[] = [];
  const figures = { userCommits: 0, indexLockRetries: 0, refMovedRetries: 0 };
  /** Every commit git said it made: subject and the short hash it printed. */
  const made: { subject: string; short: string; text: string }[] = [];
  let text = existsSync(join(root, USER_FILE)) ? await readFile(join(root, USER_FILE), 'utf8') : '';
  let draft = '';
  let endedAt: number | undefined;
  let afterEnd = 0;
  let stopped = false;

  /** One git command as a user retries it: again after index.lock (and after a moved branch, for a commit). */
  const retried = async (args: string[]): Promise<GitResult> => {
    for (let i = 0; ; i++) {
      const r = await git(root, args);
      if (r.code === 0 || i >= 1000) return r;
      if (indexLocked(r.stderr)) figures.indexLockRetries++;
      else if (args[0] === 'commit' && refMoved(r.stderr)) figures.refMovedRetries++;
      else return r;
      await sleep(10 + Math.random() * 40);
    }
  };

  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      if (endedAt !== undefined && Date.now() - endedAt >= AFTER_END_MS && afterEnd >= AFTER_END_COMMITS) break;
      const line = `edit ${tag}.${i}\n`;
      await mkdir(join(root, 'code'), { recursive: true });
      await appendFile(join(root, USER_FILE), line);
      draft = `draft ${tag}.${i}: not committed\n`;
      await mkdir(join(root, 'notes'), { recursive: true });
      await writeFile(join(root, DRAFT), draft);
      // The draft is tracked by the first commit of the trial and only edited after it.
      const add = await retried(['add', '--', USER_FILE, ...(i === 0 ? [DRAFT] : [])]);
      if (add.code !== 0) {
        problems.push(`the user's git add failed: ${add.stderr.trim().slice(0, 200)}`);
        break;
      }
      const subject = `user ${tag}.${i}`;
      const commit = await retried(['commit', '-q', '-m', subject]);
      if (commit.code !== 0) {
        problems.push(`the user's git commit failed: ${commit.stderr.trim().slice(0, 200)}`);
        break;
      }
      text += line;
      const short = (await gitOut(root, ['log', '-1', '--format=%h', '--grep', `^${subject}$`, ref]).catch(() => '')).trim();
      made.push({ subject, short, text });
      figures.userCommits++;
      if (endedAt !== undefined) afterEnd++;
      await sleep(Math.random() * 60);
    }
  })();

  let finished: Promise<FaultEnd> | undefined;
  return () =>
    (finished ??= (async () => {
      endedAt = Date.now();
      const stop = setTimeout(() => (stopped = true), 120_000);
      await loop;
      clearTimeout(stop);
      stopped = true;
      const end = await check(root, ref, runId, tag, made, text, draft, problems, figures);
      // The user commits their draft at last: the next trial's run has nothing of theirs to sweep.
      await retried(['add', '--', DRAFT]);
      await retried(['commit', '-q', '-m', `user ${tag}: the draft`]);
      return end;
    })());
}

async function check(
  root: string,
  ref: string,
  runId: string,
  tag: string,
  made: { subject: string; short: string; text: string }[],
  text: string,
  draft: string,
  problems: string[],
  counts: Record<string, number>,
): Promise<FaultEnd> {
  const figures: Record<string, number> = { ...counts };
  const tip = (await gitOut(root, ['rev-parse', ref])).trim();
  const history = new Map<string, string[]>();
  for (const l of (await gitOut(root, ['log', '--format=%H%x09%s', ref])).split('\n').filter(Boolean)) {
    const [h, s] = [l.slice(0, 40), l.slice(41)];
    history.set(s, [...(history.get(s) ?? []), h]);
  }
  const isAncestor = async (a: string, b: string) => (await git(root, ['merge-base', '--is-ancestor', a, b])).code === 0;

  // Every commit git said it made, in the branch's history, with the user's text of that moment.
  for (const m of made) {
    const found = history.get(m.subject) ?? [];
    if (found.length !== 1) {
      problems.push(`the user's commit "${m.subject}" (${m.short || 'hash unseen'}) is ${found.length ? `${found.length} times` : 'not'} in ${ref}'s history`);
      continue;
    }
    const blob = await git(root, ['show', `${found[0]}:${USER_FILE}`]);
    if (blob.stdout !== m.text) problems.push(`the user's commit "${m.subject}" holds another ${USER_FILE} than the user committed`);
  }
  for (const [a, b] of made.slice(1).map((m, i) => [made[i]!, m] as const)) {
    const [ha, hb] = [history.get(a.subject)?.[0], history.get(b.subject)?.[0]];
    if (ha && hb && !(await isAncestor(ha, hb))) problems.push(`the user's commit "${a.subject}" is not beneath their next, "${b.subject}"`);
  }
  const strays = [...history.keys()].filter((s) => s.startsWith(`user ${tag}.`) && !made.some((m) => m.subject === s));
  if (strays.length) problems.push(`commits git said it did not make are in the history: ${strays.join(', ')}`);

  // The record: in the branch's history, changing only the run's files, which stay after it.
  const records = (await gitOut(root, ['log', '--format=%H', `--grep=^Reprise-Run: ${runId}$`, ref])).split('\n').filter(Boolean);
  if (records.length !== 1) problems.push(`${ref}'s history holds ${records.length} records of the run`);
  const record = records[0];
  if (record) {
    const parent = (await gitOut(root, ['rev-parse', `${record}^1`])).trim();
    const files = (await gitOut(root, ['diff', '--name-only', '--no-renames', parent, record])).split('\n').filter(Boolean);
    const own = (f: string) => f.startsWith('output/') || f.startsWith(`.reprise/activity/${runId}.`) || f === '.reprise/environment.lock';
    const foreign = files.filter((f) => !own(f));
    if (foreign.length) problems.push(`the record changes ${foreign.join(', ')} over its parent (built on a stale head?)`);
    if (!files.includes(`.reprise/activity/${runId}.json`)) problems.push(`the record does not add .reprise/activity/${runId}.json`);
    // "<hash> <subject>: D path, A path" for each commit after the record that touches its files.
    const touched = (await gitOut(root, ['log', '--format=%x00%h %s:', '--name-status', '--no-renames', `${record}..${ref}`, '--', ...files]))
      .split('\0')
      .filter((c) => c.trim())
      .map((c) => c.trim().split('\n').filter(Boolean).map((l) => l.replace('\t', ' ')).join(' '));
    if (touched.length) problems.push(`commits after the record change its files: ${touched.slice(0, 4).join('; ')}`);
    for (const f of files) {
      const atTip = await git(root, ['rev-parse', '-q', '--verify', `${tip}:${f}`]);
      const inRecord = await git(root, ['rev-parse', '-q', '--verify', `${record}:${f}`]);
      if (atTip.stdout !== inRecord.stdout) problems.push(`${ref}'s tip holds another ${f} than the record`);
    }
    let beneath = 0;
    for (const m of made) {
      const h = history.get(m.subject)?.[0];
      if (h && (await isAncestor(h, record))) beneath++;
    }
    figures.beneathRecord = beneath;
    figures.onTopOfRecord = made.length - beneath;
    // Each record commit made but never published lost its swap to a user's commit.
    const unreachable = (await gitOut(root, ['fsck', '--unreachable', '--no-reflogs', '--no-progress'])).split('\n').flatMap((l) => /^unreachable commit ([0-9a-f]{40})/.exec(l)?.[1] ?? []);
    let lostSwaps = 0;
    let unreachableUser = 0;
    for (const c of unreachable) {
      const body = await gitOut(root, ['log', '-1', '--format=%s%n%(trailers:key=Reprise-Run,valueonly)', c]);
      if (body.split('\n')[1]?.trim() === runId) lostSwaps++;
      else if (body.startsWith(`user ${tag}.`)) unreachableUser++;
    }
    figures.recordSwapsLost = lostSwaps;
    figures.userCommitsUnreachable = unreachableUser;
  } else problems.push(`no record of ${runId} in ${ref}'s history`);

  // The working tree: the user's edits as they left them, nothing else pending.
  const onDisk = await readFile(join(root, USER_FILE), 'utf8').catch(() => '');
  if (onDisk !== text) problems.push(`${USER_FILE} in the working tree is not what the user wrote`);
  const atTip = await git(root, ['show', `${tip}:${USER_FILE}`]);
  if (atTip.stdout !== text) problems.push(`${USER_FILE} at ${ref}'s tip is not the user's last commit of it`);
  if ((await readFile(join(root, DRAFT), 'utf8').catch(() => '')) !== draft) problems.push(`${DRAFT} in the working tree is not the user's uncommitted edit`);
  const status = (await gitOut(root, ['status', '--porcelain=v1', '--untracked-files=all'])).split('\n').filter(Boolean);
  const expected = draft && made.length > 1 ? [` M ${DRAFT}`] : [];
  if (status.join('\n') !== expected.join('\n')) problems.push(`git status shows ${JSON.stringify(status.slice(0, 8))}, the user left ${JSON.stringify(expected)}`);
  const head = (await gitOut(root, ['symbolic-ref', 'HEAD'])).trim();
  if (head !== ref) problems.push(`HEAD is ${head}, not ${ref}`);

  const fsck = await git(root, ['fsck', '--no-dangling', '--no-progress']);
  const said = `${fsck.stdout}${fsck.stderr}`.trim();
  if (fsck.code !== 0 || said) problems.push(`git fsck exited ${fsck.code}: ${said.slice(0, 300)}`);
  return { problems, figures };
}
