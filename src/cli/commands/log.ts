import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { readFeed } from '../../project/history.js';
import type { FeedEntry } from '../../project/run-record.js';
import { commandText, table } from '../table.js';

export default class Log extends BaseCommand {
  static override summary = 'Show the activity feed: recorded runs, newest first.';
  static override flags = { number: Flags.integer({ char: 'n', description: 'show at most N runs', min: 1 }) };

  async run(): Promise<FeedEntry[]> {
    const { flags } = await this.parse(Log);
    const project = await this.project();
    const feed = await readFeed(project.root, flags.number);
    if (feed.length === 0) this.say('no runs recorded yet; start one with: reprise run -- <command>');
    else {
      this.say(
        table(
          ['COMMIT', 'RUN', 'STATE', 'EXIT', 'BACKEND', 'FINISHED', 'COMMAND'],
          feed.map((e) => [e.commit.slice(0, 10), e.runId, e.state, String(e.exitCode), e.backend, e.finishedAt, commandText(e.command, e.workdir)]),
        ),
      );
    }
    return feed;
  }
}
