import { Args, Flags } from '@oclif/core';
import { relative, resolve } from 'node:path';
import { BaseCommand } from '../../base-command.js';
import { checkoutData, type CheckoutResult } from '../../../data/checkout.js';

export default class DataCheckout extends BaseCommand {
  static override summary = 'Restore tracked data in the workspace from the local cache, as the pointers say.';
  static override examples = ['<%= config.bin %> data checkout', '<%= config.bin %> data checkout input/images --force'];
  static override strict = false;
  static override args = { path: Args.string({ description: 'only these tracked paths (default: all)' }) };
  static override flags = { force: Flags.boolean({ description: 'overwrite files changed since they were tracked (the changes are lost)' }) };

  async run(): Promise<CheckoutResult> {
    const { argv, flags } = await this.parse(DataCheckout);
    const project = await this.project();
    const paths = (argv as string[]).map((p) => relative(project.root, resolve(p)).split('\\').join('/'));
    const result = await checkoutData(project.root, { force: flags.force, ...(paths.length ? { paths } : {}) });
    for (const p of result.restored) this.say(`restored ${p}`);
    this.say(result.restored.length ? `${result.restored.length} restored, ${result.unchanged.length} unchanged` : `all ${result.unchanged.length} up to date`);
    return result;
  }
}
