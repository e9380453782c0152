import { describeCrossBackendVerify } from '../../helpers/cross-backend.js';
import { clusterConfig } from './slurm-backend-env.js';

describeCrossBackendVerify('hpc', 'slurm', () => {
  const c = clusterConfig(`~/reprise-it/cli-${Date.now()}`);
  return ['--host', c.host, '--port', String(c.port), '--user', c.user, '--identity-file', c.identityFile,
    '--known-hosts-file', c.knownHostsFile, '--partition', c.partition!, '--workdir', c.workdir!];
});
