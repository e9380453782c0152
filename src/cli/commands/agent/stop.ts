import { BaseCommand } from '../../base-command.js';
import { stopAgent } from '../../../client/agent.js';

export default class AgentStop extends BaseCommand {
  static override summary = 'Stop the agent processes this machine started (runs resume when it starts again).';

  async run(): Promise<{ stopped: string[] }> {
    await this.parse(AgentStop);
    const result = await stopAgent(this.env);
    this.say(result.stopped.length ? `stopped ${result.stopped.join(' and ')}` : 'agent was not running');
    return result;
  }
}
