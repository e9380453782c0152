// `reprise lab --app vscode --on hpcsif`: code-server as a batch job on the compute node under
// Apptainer (the lab image converted to a SIF once per digest), through the SSH tunnel.
// Needs Apptainer on the cluster (SLURM_APPTAINER=1 test/infra/slurm up).
import { describeClusterVscode } from '../helpers/lab-vscode-cluster.js';
import { slurmAddArgs } from '../integration/slurm/slurm-backend-env.js';

// slurmAddArgs: [name, '--kind', 'slurm', ...the flags].
describeClusterVscode('hpcsif', 'slurm', () => [...slurmAddArgs('hpcsif', '~/reprise-it/lab-vscode-apptainer').slice(3), '--runtime', 'apptainer'], 'slurm-apptainer');
