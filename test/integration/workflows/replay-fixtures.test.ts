// Workflows in flight survive an upgrade: histories recorded with earlier workflow code (runs,
// failed, cancelled, rerun, reused, slot-limited and pool runs, sweeps, labs, their notices and
// slot holders; test/fixtures/histories/record.ts made them) replay on today's code without a
// nondeterminism error. A change to src/workflows/ that breaks one needs a patched() branch.
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { workflowsPath } from '../../helpers/temporal.js';

const root = fileURLToPath(new URL('../../fixtures/histories', import.meta.url));
const labels = readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);

describe('histories recorded by earlier workflow code', () => {
  it('has recordings of every workflow type', () => {
    const types = new Set(labels.flatMap((l) => readdirSync(join(root, l)).map((f) => f.replace(/-\d+\.json$/, ''))));
    expect([...types].sort()).toEqual(['backendSlots', 'labSession', 'notifyEnded', 'runProject', 'sweepProject']);
  });

  it.each(labels)('replay on today’s code: %s', async (label) => {
    const files = readdirSync(join(root, label)).filter((f) => f.endsWith('.json'));
    const histories = files.map((f) => ({ workflowId: f, history: proto.temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(join(root, label, f), 'utf8')) as object) }));
    const failed: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories({ workflowsPath }, histories)) {
      replayed++;
      if (result.error) failed.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failed).toEqual([]);
    expect(replayed).toBe(files.length);
  }, 180_000);
});
