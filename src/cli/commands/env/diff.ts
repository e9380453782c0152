import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { diffLocks, type LockDiff } from '../../../images/lock.js';
import { recordedLock } from '../../../images/locked-build.js';
import { table } from '../../table.js';

export default class EnvDiff extends BaseCommand {
  static override summary = 'List the packages that differ between the environment locks of two recorded runs.';
  static override description = 'Per manager (apt, pip, conda): added, removed, and changed with both versions; and the base image when its digest differs.';
  static override examples = ['<%= config.bin %> env diff 3f2k9qxa 8h1mz0pc'];
  static override args = {
    a: Args.string({ description: 'first run id (or a unique prefix)', required: true }),
    b: Args.string({ description: 'second run id (or a unique prefix)', required: true }),
  };

  async run(): Promise<{ a: string; b: string } & LockDiff> {
    const { args } = await this.parse(EnvDiff);
    const { root } = await this.project();
    // Read together, but a problem with the first run is the one reported, whichever settles first.
    const [first, second] = await Promise.allSettled([recordedLock(root, args.a), recordedLock(root, args.b)]);
    if (first.status === 'rejected') throw first.reason;
    if (second.status === 'rejected') throw second.reason;
    const [a, b] = [first.value, second.value];
    const diff = diffLocks(a.lock, b.lock);
    if (diff.base) this.say(`base  ${diff.base.from} → ${diff.base.to}\n`);
    if (diff.packages.length === 0) this.say(`no package differs between ${a.runId} and ${b.runId}`);
    else this.say(table(['MANAGER', 'PACKAGE', 'CHANGE', a.runId, b.runId], diff.packages.map((p) => [p.manager, p.name, p.change, p.from ?? '-', p.to ?? '-'])));
    return { a: a.runId, b: b.runId, ...diff };
  }
}
