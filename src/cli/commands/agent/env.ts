import { BaseCommand } from '../../base-command.js';
import { temporalCliEnv } from '../../../client/agent.js';
import { shellQuote } from '../../../shell-quote.js';

export default class AgentEnv extends BaseCommand {
  static override summary = "Print the TEMPORAL_* variables that let Temporal's own tools (the temporal CLI, SDK scripts) reach this agent.";
  static override description = "Reads nothing secret onto the screen: it names the agent's certificate files, readable by this account only. Use: eval \"$(reprise agent env)\"; temporal workflow list";
  static override examples = ['eval "$(reprise agent env)" && temporal workflow list'];

  async run(): Promise<Record<string, string>> {
    await this.parse(AgentEnv);
    const vars = await temporalCliEnv(this.env);
    for (const [name, value] of Object.entries(vars)) this.say(`export ${name}=${shellQuote(value)}`);
    return vars;
  }
}
