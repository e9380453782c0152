import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { loadUserConfig } from '../../../backends/user-config.js';
import { badInput, ErrorKind, RepriseError } from '../../../errors.js';
import { deliver, DeliveryError } from '../../../notify/deliver.js';
import { dashboardLink, sampleNotice } from '../../../notify/notice.js';

export default class NotifyTest extends BaseCommand {
  static override summary = "Send a sample notice to a notifier now and show the receiver's answer.";
  static override description = 'Sent from this machine (the CLI), with the settings of your user config; exit 3 when the receiver cannot be reached or refuses.';
  static override args = { name: Args.string({ description: 'notifier name', required: true }) };

  async run(): Promise<{ notifier: string; delivery: string; answer: string }> {
    const { args } = await this.parse(NotifyTest);
    const config = await loadUserConfig(this.env.home);
    const notifier = config.notifiers?.[args.name];
    if (!notifier) throw badInput(`no notifier "${args.name}"; list them with: reprise notify list`);
    const notice = sampleNotice(new Date(), dashboardLink(config.dashboard?.url, 'run', 'run-testmessage00'));
    const delivery = `test-${Date.now()}/${args.name}`;
    try {
      const answer = await deliver(notifier, notice, delivery, config.smtp);
      this.say(`sent a sample notice to ${args.name}; the receiver answered: ${answer}`);
      return { notifier: args.name, delivery, answer };
    } catch (err) {
      if (err instanceof DeliveryError) throw new RepriseError(ErrorKind.backendUnavailable, `${args.name}: ${err.message}`);
      throw err;
    }
  }
}
