// A notice through a worker SIGKILLed between the record and the receiver's answer: the run is
// recorded once, and the receiver accepts exactly one message (every attempt carrying the same
// Reprise-Delivery id) once the next worker retries the delivery.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCliProject } from '../helpers/cli-project.js';
import { WebhookReceiver } from '../helpers/notify-receivers.js';
import { git } from '../helpers/project.js';
import { dockerJobs, FaultContext, pidAlive } from './harness.js';

describe('notices through a killed worker', () => {
  const p = useCliProject('faults-notify');
  let ctx: FaultContext;
  let hook: WebhookReceiver;
  const killed: { pid?: number; recordedBefore?: boolean } = {};
  beforeAll(async () => {
    ctx = new FaultContext(p.cli, p.root, 'local', 'docker', dockerJobs);
    // The first request lands after the record: the worker sending it is killed before it hears an answer.
    hook = await WebhookReceiver.start((n, request) => {
      if (n > 0) return 200;
      const { commit } = JSON.parse(request.body) as { commit: string };
      killed.recordedBefore = git(p.root, 'cat-file', '-t', commit).trim() === 'commit';
      killed.pid = ctx.agent().workerPid!;
      process.kill(killed.pid, 'SIGKILL');
      return 'hang';
    });
  });
  afterAll(async () => {
    await hook?.stop();
    await ctx?.close();
  });

  it('exactly one accepted message, the run recorded once', async () => {
    await ctx.ensureAgent();
    const add = await p.cli.run(['notify', 'add', 'hook', '--webhook', hook.url], p.root);
    expect(add.code, add.stderr).toBe(0);
    const start = await p.cli.run(['run', '--detach', '--', 'sh', '-c', 'echo hi'], p.root);
    expect(start.code, start.stderr).toBe(0);
    const runId = start.stdout.trim().split('\n').pop()!.trim();
    await hook.waitFor(1, 120_000);
    expect(killed.recordedBefore, 'the record was committed before the notice was sent').toBe(true);
    for (let i = 0; i < 100 && pidAlive(killed.pid!); i++) await new Promise((r) => setTimeout(r, 100));
    expect(pidAlive(killed.pid!)).toBe(false);
    // Any reprise command brings the agent back, as a user's would.
    await ctx.ensureAgent();
    await hook.waitFor(2, 120_000);
    const ledger = join(p.cli.env.REPRISE_HOME!, 'notifications', runId, 'hook');
    for (let i = 0; i < 300 && !existsSync(ledger); i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(ledger), 'the delivery is in the new worker’s ledger').toBe(true);
    expect(hook.accepted()).toHaveLength(1);
    expect(hook.requests).toHaveLength(2);
    expect(new Set(hook.requests.map((q) => q.headers['reprise-delivery']))).toEqual(new Set([`${runId}/hook`]));
    expect(ctx.records(runId)).toHaveLength(1);
    expect(await ctx.workflowStatus(runId)).toBe('COMPLETED');
  }, 600_000);
});
