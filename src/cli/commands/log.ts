import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { readFeed, readSweeps } from '../../project/history.js';
import { readLabs } from '../../project/lab-history.js';
import type { FeedEntry } from '../../project/run-record.js';
import { commandText, table } from '../table.js';

export default class Log extends BaseCommand {
  static override summary = 'Show the activity feed: recorded runs and lab sessions, newest first; a sweep\'s points under its summary.';
  static override flags = { number: Flags.integer({ char: 'n', description: 'show at most N runs', min: 1 }) };

  async run(): Promise<FeedEntry[]> {
    const { flags } = await this.parse(Log);
    const project = await this.project();
    const feed = await readFeed(project.root, flags.number);
    const labs = await readLabs(project.root);
    if (feed.length === 0 && labs.length === 0) {
      this.say('no runs recorded yet; start one with: reprise run -- <command>');
      return feed;
    }
    if (this.jsonEnabled()) return feed;
    const row = (e: FeedEntry, indent = '') => [e.commit.slice(0, 10), indent + e.runId, e.state, String(e.exitCode), e.backend, e.finishedAt, commandText(e.command, e.workdir)];
    const rows: string[][] = [];
    // A sweep's points are grouped under one line for the sweep, where its newest point is.
    const sweeps = feed.some((e) => e.sweep) ? new Map((await readSweeps(project.root)).map((s) => [s.sweepId, s])) : new Map();
    const grouped = new Set<string>();
    for (const e of feed) {
      if (!e.sweep) rows.push(row(e));
      else if (!grouped.has(e.sweep)) {
        grouped.add(e.sweep);
        const summary = sweeps.get(e.sweep);
        const points = feed.filter((p) => p.sweep === e.sweep);
        const state = summary?.trailers['Reprise-State'] ?? 'running';
        const count = summary?.trailers['Reprise-Points'] ?? `${points.length} so far`;
        rows.push([summary?.commit.slice(0, 10) ?? '', e.sweep, state, '', summary?.trailers['Reprise-Backend'] ?? e.backend, '', `sweep, points: ${count}`]);
        for (const p of points) rows.push(row(p, '  '));
      }
    }
    // Lab sessions (one line each, at their last checkpoint) among the runs of the same period;
    // `--json` keeps to runs (the feed's contract): `reprise lab list --json` lists sessions.
    const oldest = flags.number && feed.length >= flags.number ? feed.at(-1)!.finishedAt : '';
    for (const l of labs.filter((l) => l.lastAt >= oldest)) {
      const at = rows.findIndex((r) => r[5]! !== '' && r[5]! < l.lastAt);
      const line = [l.commits[0]!.slice(0, 10), l.labId, l.state, '', l.backend, l.lastAt, `lab: ${l.checkpoints} checkpoint${l.checkpoints === 1 ? '' : 's'}, ${l.executions} cell${l.executions === 1 ? '' : 's'} (reprise show ${l.labId})`];
      rows.splice(at === -1 ? rows.length : at, 0, line);
    }
    this.say(table(['COMMIT', 'RUN', 'STATE', 'EXIT', 'BACKEND', 'FINISHED', 'COMMAND'], rows));
    return feed;
  }
}
