import { defineConfig } from 'vitest/config';

const include = ['test/**/*.test.ts', 'firmware-adapters/**/*.test.ts', 'central/test/**/*.test.ts'];
const exclusive = ['test/**/*.exclusive.test.ts', 'central/test/**/*.exclusive.test.ts'];

export default defineConfig({
  test: {
    // Brings the real-broker stack up (or reuses a running one) and stops only what it started.
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    // Two brokers and the tests share 2 cores: two files at a time at most.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 240_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'shared',
          include,
          exclude: [...exclusive, '**/node_modules/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          // Tests that restart shared services (a broker) run alone, after the rest.
          name: 'exclusive',
          include: exclusive,
          poolOptions: { forks: { singleFork: true } },
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
