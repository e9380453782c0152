// `reprise lab --on hpc`: JupyterLab as a batch job on the compute node (Charliecloud), reached
// through the SSH connection to the login node; the connection cut mid-session, the job scancelled.
import { execFileSync } from 'node:child_process';
import { describeClusterLab } from '../../helpers/lab.js';
import { clusterConfig, slurmAddArgs } from './slurm-backend-env.js';

// slurmAddArgs: [name, '--kind', 'slurm', ...the flags].
describeClusterLab('hpc', 'slurm', () => slurmAddArgs('hpc', `~/reprise-it/lab-${Date.now()}`).slice(3), {
  cutPort: () => clusterConfig('~').port!,
  kill: (labId) => {
    const c = clusterConfig('~');
    // The lab's job, found by its name on the cluster, cancelled as an admin (or the user) would.
    execFileSync('ssh', ['-p', String(c.port), '-i', c.identityFile, '-o', `UserKnownHostsFile=${c.knownHostsFile}`, '-o', 'BatchMode=yes', `${c.user}@${c.host}`, `scancel --name=reprise-${labId}`], { stdio: 'inherit' });
  },
});
