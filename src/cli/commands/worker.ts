import { BaseCommand } from '../base-command.js';
import { agentAddress } from '../../client/agent.js';
import { createWorker } from '../../worker/worker.js';
import { createLogger } from '../../logger.js';
import { routeSdkLogs } from '../../worker/worker.js';

export default class WorkerCommand extends BaseCommand {
  static override summary = 'Run a worker for the Temporal server at TEMPORAL_ADDRESS (foreground; Ctrl-C stops it gracefully).';
  static override enableJsonFlag = false;

  async run(): Promise<void> {
    await this.parse(WorkerCommand);
    const env = this.env;
    const address = agentAddress(env);
    const logger = createLogger({ component: 'worker' });
    routeSdkLogs(logger);
    const worker = await createWorker(env, address, logger);
    logger.info({ address, taskQueue: env.taskQueue, namespace: env.temporalNamespace }, 'worker started');
    await worker.run(); // the SDK shuts down gracefully on SIGINT/SIGTERM
    logger.info('worker stopped');
  }
}
