// `reprise lab --app vscode --on hpc`: code-server as a batch job on the compute node
// (Charliecloud: read-only image, the user's uid), reached through the SSH connection to the
// login node. The workdir is fixed so that a second run finds the lab image already shipped.
import { describeClusterVscode } from '../helpers/lab-vscode-cluster.js';
import { slurmAddArgs } from '../integration/slurm/slurm-backend-env.js';

// slurmAddArgs: [name, '--kind', 'slurm', ...the flags].
describeClusterVscode('hpc', 'slurm', () => slurmAddArgs('hpc', '~/reprise-it/lab-vscode').slice(3));
