import { BaseCommand } from '../../base-command.js';
import { agentStatus, type AgentStatus } from '../../../client/agent.js';
import { ExitCode } from '../../../errors.js';

export default class AgentStatusCommand extends BaseCommand {
  static override summary = 'Show whether the Temporal server and a worker are up (exit 3 when not).';

  async run(): Promise<AgentStatus> {
    await this.parse(AgentStatusCommand);
    const status = await agentStatus(this.env);
    this.say(`temporal: ${status.temporalUp ? 'up' : 'down'} at ${status.address}${status.embedded ? ' (embedded)' : ''}`);
    this.say(`worker:   ${status.workerUp ? `up (pid ${status.workerPid})` : 'not started here'}; ${status.workerPollers} poller(s) on the task queue`);
    this.say(`reachable by: ${status.protection}`);
    return this.withExitCode(status, !status.temporalUp || status.workerPollers === 0 ? ExitCode.backendUnavailable : ExitCode.ok);
  }
}
