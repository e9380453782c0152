import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { temporalConnectionOptions } from '../../client/agent.js';
import { loadUserConfig, resolveBackend } from '../../backends/user-config.js';
import { createWorkers, defaultIdentity, routeSdkLogs, workerQueues } from '../../worker/worker.js';
import { createLogger } from '../../logger.js';
import { serveCli } from '../../worker/cli-socket.js';
import { badInput, errorMessage } from '../../errors.js';

export default class WorkerCommand extends BaseCommand {
  static override summary = 'Run a worker for the Temporal server at TEMPORAL_ADDRESS (foreground; Ctrl-C stops it gracefully).';
  static override description =
    'With --backends the worker serves team-mode runs of those backends only (one task queue each), using the backends, credentials and registry logins of its own REPRISE_HOME and home directory.';
  static override enableJsonFlag = false;
  static override flags = {
    backends: Flags.string({ description: "comma-separated backends of this worker's config to serve (team mode), e.g. hpc,k8s", env: 'REPRISE_WORKER_BACKENDS' }),
    identity: Flags.string({ description: 'name recorded in the runs this worker executes (default: user@host/pid)', env: 'REPRISE_WORKER_IDENTITY' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(WorkerCommand);
    const env = this.env;
    const backends = flags.backends?.split(',').map((b) => b.trim()).filter(Boolean);
    if (flags.backends !== undefined && !backends?.length) throw badInput('--backends needs at least one backend name, e.g. --backends hpc,k8s');
    // Refuse a backend this worker cannot serve now, rather than take its runs and fail them.
    const config = await loadUserConfig(env.home);
    for (const name of backends ?? []) resolveBackend(config, name);
    const identity = flags.identity ?? defaultIdentity();
    const server = await temporalConnectionOptions(env);
    const logger = createLogger({ component: 'worker' });
    routeSdkLogs(logger);
    const workers = await createWorkers(env, server, logger, { backends, identity });
    logger.info({ address: server.address, tls: Boolean(server.tls), apiKey: Boolean(server.apiKey), taskQueues: workerQueues(env, backends), namespace: env.temporalNamespace, identity }, 'worker started');
    // The local agent's worker also serves the CLI over a socket; a CLI without it goes through Temporal.
    const cli = backends || env.team ? undefined : await serveCli(env, logger).catch((err: unknown) => void logger.warn({ err: errorMessage(err) }, 'not serving the CLI: CLIs reach Temporal directly'));
    try {
      await Promise.all(workers.map((w) => w.run())); // the SDK shuts down gracefully on SIGINT/SIGTERM
    } finally {
      await cli?.close();
    }
    logger.info('worker stopped');
  }
}
