// Notices sent by the worker of a real agent, for real runs on local Docker, to a real HTTP
// receiver and a real SMTP server: one message per run with its fields; a receiver answering 500
// three times gets exactly one accepted message; a receiver that never answers does not delay the
// record or the attached CLI; a sweep of three points sends one message; filters hold; and no
// webhook token reaches the project's history, the worker's log or the workflows' histories.
import { Client } from '@temporalio/client';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConnection, type CliResult } from '../helpers/cli.js';
import { useCliProject } from '../helpers/cli-project.js';
import { SmtpServer, WebhookReceiver } from '../helpers/notify-receivers.js';
import { git } from '../helpers/project.js';
import { sweepIdOf } from '../helpers/sweep.js';

const p = useCliProject('notify-delivery');
const DASHBOARD = 'http://dash.example:8080/';
const home = () => p.cli.env.REPRISE_HOME!;
const delivered = (id: string, notifier: string) => join(home(), 'notifications', id, notifier);

function runIdOf(r: CliResult): string {
  const m = /run (run-[a-z2-7]{12}) \w+, exit code/.exec(r.stderr);
  if (!m) throw new Error(`no run id in: ${r.stderr}${r.stdout}`);
  return m[1]!;
}

async function waitUntil(what: string, test: () => boolean, timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!test() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  if (!test()) throw new Error(`timed out waiting for ${what}`);
}

async function notify(...args: string[]): Promise<void> {
  const r = await p.cli.run(['notify', ...args], p.root);
  if (r.code !== 0) throw new Error(`notify ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
}

/** A workflow's whole history as JSON text. */
async function historyOf(workflowId: string): Promise<string> {
  const connection = await agentConnection(p.cli.env);
  try {
    return JSON.stringify(await new Client({ connection }).workflow.getHandle(workflowId).fetchHistory());
  } finally {
    await connection.close();
  }
}

const recordOf = (runId: string) => JSON.parse(git(p.root, 'show', `HEAD:.reprise/activity/${runId}.json`)) as { finishedAt: string; state: string };

describe('notices from the worker', () => {
  let smtp: SmtpServer;
  const receivers: WebhookReceiver[] = [];
  const receiver = async (...args: Parameters<typeof WebhookReceiver.start>) => {
    const r = await WebhookReceiver.start(...args);
    receivers.push(r);
    return r;
  };
  beforeAll(async () => {
    smtp = await SmtpServer.start();
    const file = join(home(), 'config.yaml');
    const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
    writeFileSync(file, before + `smtp:\n  host: 127.0.0.1\n  port: ${smtp.port}\n  from: reprise@example.com\n  tls: none\ndashboard:\n  url: ${DASHBOARD}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    for (const r of receivers) await r.stop();
    await smtp?.stop();
  });

  it('a failed run: one JSON message and one email with its fields; no token in history, logs or workflow histories', async () => {
    const hook = await receiver();
    await notify('add', 'hook', '--webhook', hook.url);
    await notify('add', 'mail', '--email', 'bob@example.com');
    const script = 'i=0; while [ $i -lt 30 ]; do echo line $i; i=$((i+1)); done; printf "\\033[31mred\\033[0m alert\\n"; exit 3';
    const r = await p.cli.run(['run', '--', 'sh', '-c', script], p.root);
    expect(r.code, r.stderr).toBe(3);
    const runId = runIdOf(r);
    await hook.waitFor(1);
    const [mail] = await smtp.waitFor(1);
    await waitUntil('both deliveries in the ledger', () => existsSync(delivered(runId, 'hook')) && existsSync(delivered(runId, 'mail')));

    expect(hook.requests).toHaveLength(1);
    expect(hook.requests[0]!.headers['reprise-delivery']).toBe(`${runId}/hook`);
    const body = JSON.parse(hook.requests[0]!.body) as Record<string, unknown>;
    expect(body).toMatchObject({
      schema: 'reprise.notification/v1',
      delivery: `${runId}/hook`,
      kind: 'run',
      id: runId,
      project: 'notify-delivery',
      state: 'failed',
      endState: 'failed',
      exitCode: 3,
      backend: 'local',
      command: ['sh', '-c', script],
      url: `${DASHBOARD}#/runs/${runId}`,
    });
    expect(body.commit).toBe(git(p.root, 'rev-parse', 'HEAD').trim());
    expect(body.durationSeconds).toBeTypeOf('number');
    const tail = body.logTail as string;
    expect(tail.split('\n')).toHaveLength(20);
    expect(tail.endsWith('line 29\nred alert')).toBe(true);
    expect(tail).not.toContain('line 9\n');
    expect(tail).not.toContain('\x1b');

    expect(smtp.messages()).toHaveLength(1);
    expect(mail).toMatch(new RegExp(`^Subject: \\[reprise\\] run ${runId} failed$`, 'm'));
    expect(mail).toMatch(new RegExp(`^Reprise-Delivery: ${runId}/mail$`, 'm'));
    for (const line of ['State:     failed', 'Exit code: 3', 'Backend:   local', `Dashboard: ${DASHBOARD}#/runs/${runId}`, 'red alert']) expect(mail).toContain(line);

    // The token is only in the user config: not in the project, the worker's log, or any workflow history.
    expect(execFileSync('git', ['log', '--all', '-p'], { cwd: p.root, encoding: 'utf8' })).not.toContain('SECRET-TOKEN');
    expect(readFileSync(join(home(), 'agent', 'worker.log'), 'utf8')).not.toContain('SECRET-TOKEN');
    for (const id of [runId, `${runId}.notify`]) {
      const history = await historyOf(id);
      expect(history.length).toBeGreaterThan(100);
      expect(history).not.toContain('SECRET-TOKEN');
    }
    await notify('remove', 'hook');
    await notify('remove', 'mail');
  });

  it('a receiver answering 500 three times then 200 gets exactly one accepted message; the other notifier is not sent again on the retries', async () => {
    const flaky = await receiver((n) => (n < 3 ? 500 : 200));
    const steady = await receiver();
    await notify('add', 'flaky', '--webhook', flaky.url);
    await notify('add', 'steady', '--webhook', steady.url);
    const r = await p.cli.run(['run', '--', 'echo', 'hi'], p.root);
    expect(r.code, r.stderr).toBe(0);
    const runId = runIdOf(r);
    await flaky.waitFor(4);
    await waitUntil('the delivery in the ledger', () => existsSync(delivered(runId, 'flaky')));
    expect(flaky.requests.map((q) => q.status)).toEqual([500, 500, 500, 200]);
    expect(flaky.accepted()).toHaveLength(1);
    expect(new Set(flaky.requests.map((q) => q.headers['reprise-delivery']))).toEqual(new Set([`${runId}/flaky`]));
    // Backoff between attempts (1 s, 2 s, 4 s).
    const gaps = flaky.requests.slice(1).map((q, i) => q.at - flaky.requests[i]!.at);
    expect(gaps[2]!).toBeGreaterThan(gaps[0]!);
    // The failed attempts are in the notice's history (the last failure), named by scheme and host only.
    let history = await historyOf(`${runId}.notify`);
    for (let i = 0; i < 100 && !history.includes('workflowExecutionCompletedEventAttributes'); i++) {
      await new Promise((r) => setTimeout(r, 200));
      history = await historyOf(`${runId}.notify`);
    }
    expect(history).toContain(`${new URL(flaky.url).origin} answered HTTP 500`);
    expect(history).not.toContain('SECRET-TOKEN');
    // Four attempts of the activity; the ledger kept the steady receiver at one message.
    expect(steady.requests.map((q) => q.headers['reprise-delivery'])).toEqual([`${runId}/steady`]);
    await notify('remove', 'flaky');
    await notify('remove', 'steady');
  });

  it('a receiver that never answers does not delay the record or the attached run', async () => {
    const lag = async () => {
      const t0 = Date.now();
      const r = await p.cli.run(['run', '--', 'sh', '-c', 'sleep 1; echo done'], p.root);
      const returned = Date.now();
      expect(r.code, r.stderr).toBe(0);
      const runId = runIdOf(r);
      const record = recordOf(runId);
      const committed = Date.parse(git(p.root, 'log', '-1', '--format=%cI').trim());
      return { runId, cli: returned - t0, afterEnd: returned - Date.parse(record.finishedAt), commitAfterEnd: committed - Date.parse(record.finishedAt) };
    };
    const without = await lag();
    const hanging = await receiver(() => 'hang');
    await notify('add', 'hanging', '--webhook', hanging.url);
    const withHanging = await lag();
    await hanging.waitFor(1);
    // The request was made (after the record), and is still unanswered while the CLI has long returned.
    expect(hanging.requests[0]!.status).toBeUndefined();
    console.log(`attached run without notifiers: CLI ${without.cli} ms, returned ${without.afterEnd} ms after the job's end (commit ${without.commitAfterEnd} ms, 1 s resolution); with a hanging receiver: CLI ${withHanging.cli} ms, returned ${withHanging.afterEnd} ms after the end (commit ${withHanging.commitAfterEnd} ms)`);
    // A delivery attempt waits 10 s for an answer: the run must not have waited for it.
    expect(withHanging.afterEnd).toBeLessThan(without.afterEnd + 3000);
    expect(withHanging.commitAfterEnd).toBeLessThan(without.commitAfterEnd + 3000);
    await notify('remove', 'hanging');
  });

  it('a sweep of three points sends one message with the summary, none per point', async () => {
    const hook = await receiver();
    await notify('add', 'sweeps', '--webhook', hook.url, '--format', 'json');
    const r = await p.cli.run(['sweep', '--param', 'n=1..3', '--', 'sh', '-c', 'echo point {n}'], p.root);
    expect(r.code, r.stderr).toBe(0);
    const sweepId = sweepIdOf(r);
    await waitUntil('the sweep delivery in the ledger', () => existsSync(delivered(sweepId, 'sweeps')));
    // Notices are read from the config when sent: the hanging run's retries (above) may land here too.
    const bodies = hook.requests.map((q) => JSON.parse(q.body) as Record<string, unknown>);
    const points = (JSON.parse(git(p.root, 'show', `HEAD:.reprise/activity/${sweepId}.json`)) as { points: { runId: string }[] }).points.map((pt) => pt.runId);
    expect(points).toHaveLength(3);
    expect(bodies.filter((b) => points.includes(b.id as string))).toEqual([]);
    const sweepNotices = bodies.filter((b) => b.id === sweepId);
    expect(sweepNotices).toHaveLength(1);
    const body = sweepNotices[0]!;
    expect(body).toMatchObject({ kind: 'sweep', id: sweepId, state: 'succeeded', points: { total: 3, succeeded: 3, failed: 0, cancelled: 0, notStarted: 0 }, url: `${DASHBOARD}#/sweeps/${sweepId}` });
    expect((body.logTail as string).split('\n')).toHaveLength(3);
    await notify('remove', 'sweeps');
  });

  it('a reused run is told once, as reused (a succeeded end for the filters)', async () => {
    const hook = await receiver();
    await notify('add', 'reuses', '--webhook', hook.url, '--format', 'json', '--on', 'succeeded');
    const first = runIdOf(await p.cli.run(['run', '--', 'sh', '-c', 'echo reusable'], p.root));
    const again = await p.cli.run(['run', '--reuse', '--', 'sh', '-c', 'echo reusable'], p.root);
    expect(again.code, again.stderr).toBe(0);
    const reused = /run (run-[a-z2-7]{12}) reused /.exec(again.stderr)?.[1];
    expect(reused, again.stderr).toBeDefined();
    await waitUntil('the reused run in the ledger', () => existsSync(delivered(reused!, 'reuses')));
    const bodies = hook.requests.map((q) => JSON.parse(q.body) as Record<string, unknown>).filter((b) => b.id === reused);
    expect(bodies).toHaveLength(1);
    expect(bodies[0]).toMatchObject({ kind: 'run', id: reused, state: 'reused', exitCode: 0, logTail: 'reusable' });
    expect(existsSync(delivered(first, 'reuses'))).toBe(true);
    await notify('remove', 'reuses');
  });

  it('filters: --on failed only hears failures; --backend only that backend', async () => {
    const failures = await receiver();
    const other = await receiver();
    const add = await p.cli.run(['backend', 'add', 'other', '--kind', 'docker'], p.root);
    expect(add.code, add.stderr).toBe(0);
    await notify('add', 'failures', '--webhook', failures.url, '--on', 'failed');
    await notify('add', 'other', '--webhook', other.url, '--backend', 'other');
    const ok = runIdOf(await p.cli.run(['run', '--', 'true'], p.root));
    const failed = runIdOf(await p.cli.run(['run', '--', 'false'], p.root));
    const elsewhere = runIdOf(await p.cli.run(['run', '--on', 'other', '--', 'true'], p.root));
    await failures.waitFor(1);
    await other.waitFor(1);
    await waitUntil('both deliveries in the ledger', () => existsSync(delivered(failed, 'failures')) && existsSync(delivered(elsewhere, 'other')));
    const ids = (r: WebhookReceiver) => r.requests.map((q) => (JSON.parse(q.body) as { id: string }).id).filter((id) => [ok, failed, elsewhere].includes(id));
    expect(ids(failures)).toEqual([failed]);
    expect(ids(other)).toEqual([elsewhere]);
    expect(existsSync(delivered(ok, 'failures')) || existsSync(delivered(ok, 'other'))).toBe(false);
  });
});
