import { BaseCommand } from '../../base-command.js';
import { agentStatus, ensureAgent, type AgentStatus } from '../../../client/agent.js';

export default class AgentStart extends BaseCommand {
  static override summary = 'Start the agent: the embedded Temporal server (unless TEMPORAL_ADDRESS is set) and a worker.';

  async run(): Promise<AgentStatus> {
    await this.parse(AgentStart);
    await (await ensureAgent(this.env)).connection.close();
    const status = await agentStatus(this.env);
    this.say(`agent running: Temporal at ${status.address}${status.uiUrl ? ` (web UI ${status.uiUrl})` : ''}, worker pid ${status.workerPid ?? 'external'}`);
    this.say(`reachable by: ${status.protection}`);
    return status;
  }
}
