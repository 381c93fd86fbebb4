import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'firmware-adapters/**/*.test.ts', 'central/test/**/*.test.ts'],
    // Brings the real-broker stack up (or reuses a running one) and stops only what it started.
    globalSetup: ['test/support/global-setup.ts'],
    // Integration tests share two brokers and a 2-core machine: two files at a time at most.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 240_000,
    reporters: ['default'],
  },
});
