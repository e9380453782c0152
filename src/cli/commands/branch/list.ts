import { BaseCommand } from '../../base-command.js';
import { listBranches, type Branch } from '../../../project/branches.js';
import { table } from '../../table.js';

export default class BranchList extends BaseCommand {
  static override summary = 'List branches; * marks the current one.';

  async run(): Promise<Branch[]> {
    await this.parse(BranchList);
    const branches = await listBranches((await this.project()).root);
    this.say(table(['', 'BRANCH', 'COMMIT', 'SUBJECT'], branches.map((b) => [b.current ? '*' : '', b.name, b.commit.slice(0, 10), b.subject])));
    return branches;
  }
}
