import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { readFeed, readSweeps } from '../../project/history.js';
import type { FeedEntry } from '../../project/run-record.js';
import { commandText, table } from '../table.js';

export default class Log extends BaseCommand {
  static override summary = 'Show the activity feed: recorded runs, newest first; a sweep\'s points under its summary.';
  static override flags = { number: Flags.integer({ char: 'n', description: 'show at most N runs', min: 1 }) };

  async run(): Promise<FeedEntry[]> {
    const { flags } = await this.parse(Log);
    const project = await this.project();
    const feed = await readFeed(project.root, flags.number);
    if (feed.length === 0) {
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
    this.say(table(['COMMIT', 'RUN', 'STATE', 'EXIT', 'BACKEND', 'FINISHED', 'COMMAND'], rows));
    return feed;
  }
}
