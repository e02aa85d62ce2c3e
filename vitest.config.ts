import { defineConfig } from 'vitest/config';

/**
 * Three projects: `unit` (pure, fast), `integration` (real Dovecot and the
 * S3/SQS/DynamoDB emulators, started by the global setup on loopback) and
 * `infra` (CDK synthesis and template assertions).
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // The servers are shared; files run one at a time so timing-sensitive
          // tests (leases, crashes) do not starve on a 2-core machine.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'infra',
          include: ['test/infra/**/*.test.ts'],
          testTimeout: 300_000,
        },
      },
    ],
  },
});
