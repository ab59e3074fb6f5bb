import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // e2e tests start real processes and bind ports; two cores are shared with them.
    maxWorkers: 2,
  },
});
