import { defineConfig } from 'vitest/config';

// One project per suite so each can run alone: `vitest run --project slurm`.
// Real-service suites live under test/integration/<service>/ and test/e2e/.
const shared = { testTimeout: 60_000, hookTimeout: 600_000, pool: 'forks' as const };

export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 15_000 } },
      {
        test: {
          ...shared,
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: ['test/integration/slurm/**', 'test/integration/kubernetes/**'],
          fileParallelism: false,
        },
      },
      { test: { ...shared, name: 'slurm', include: ['test/integration/slurm/**/*.test.ts'], fileParallelism: false } },
      { test: { ...shared, name: 'kubernetes', include: ['test/integration/kubernetes/**/*.test.ts'], fileParallelism: false } },
      { test: { ...shared, name: 'e2e', include: ['test/e2e/**/*.test.ts'], fileParallelism: false, testTimeout: 300_000 } },
    ],
  },
});
