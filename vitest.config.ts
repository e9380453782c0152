import { defineConfig } from 'vitest/config';

// One project per suite so each can run alone: `vitest run --project slurm`.
// Real-service suites live under test/integration/<service>/ and test/e2e/.
const shared = { testTimeout: 60_000, hookTimeout: 600_000, pool: 'forks' as const, setupFiles: ['test/helpers/remove-temp-dirs.ts'] };

export default defineConfig({
  test: {
    // Real-service suites share one Docker engine and one Temporal server: run files one by one.
    fileParallelism: false,
    // Off a terminal (CI, the suites' logs) every test is printed as it ends, not each file at
    // its end: a file that hangs then shows how far it got.
    reporters: process.stdout.isTTY ? ['default'] : ['verbose'],
    projects: [
      { test: { ...shared, name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 15_000 } },
      {
        test: {
          ...shared,
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: ['test/integration/slurm/**', 'test/integration/kubernetes/**', 'test/integration/data/**'],
        },
      },
      // apptainer.test.ts needs Apptainer on the cluster (SLURM_APPTAINER=1 test/infra/slurm up builds it; npm test does).
      { test: { ...shared, name: 'slurm', include: ['test/integration/slurm/**/*.test.ts'], exclude: ['test/integration/slurm/apptainer.test.ts'] } },
      { test: { ...shared, name: 'slurm-apptainer', include: ['test/integration/slurm/apptainer.test.ts'] } },
      { test: { ...shared, name: 'kubernetes', include: ['test/integration/kubernetes/**/*.test.ts'] } },
      // The object store suite (store client + the built CLI under test/e2e/data): needs `test/infra/s3 up` (SeaweedFS), `npm run build` and real DVC (pip install --user dvc dvc-s3);
      // its cluster-* files (data staged by digest on SLURM) also need `test/infra/slurm up`.
      { test: { ...shared, name: 'data-store', include: ['test/integration/data/**/*.test.ts', 'test/e2e/data/**/*.test.ts'], testTimeout: 300_000 } },
      { test: { ...shared, name: 'e2e', include: ['test/e2e/**/*.test.ts'], exclude: ['test/e2e/data/**', 'test/e2e/lab-vscode*.test.ts'], testTimeout: 300_000 } },
      // VS Code in the lab (the built CLI on Docker, Kubernetes and SLURM): its own project because its first lab image
      // build takes ~10 minutes (code-server's native modules), so npm test runs it in a lane beside the clusters'
      // (after them: the cluster files need `test/infra/kubernetes up` and `SLURM_APPTAINER=1 test/infra/slurm up`). Whichever
      // file runs first builds the lab image; the others find it by its label. The SLURM files keep it in fixed workdirs
      // (~/reprise-it/lab-vscode*), so their later runs do not ship it again.
      { test: { ...shared, name: 'lab-vscode', include: ['test/e2e/lab-vscode*.test.ts'], testTimeout: 300_000 } },
      // Faults injected into real services mid-run (issue 10 §2): its own project, run alone with
      // `npm run test:faults`; the global setup prints the fault × backend table at the end.
      {
        test: { ...shared, name: 'faults', include: ['test/faults/**/*.test.ts'], globalSetup: ['test/faults/global-setup.ts'], testTimeout: 900_000 },
      },
    ],
  },
});
