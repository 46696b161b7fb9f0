import { defineConfig } from 'vitest/config';
import { budget } from './support/time.js';

// End-to-end tests on the real local cluster (make cluster-up && make images first; `make test-e2e`
// does both). The suite reads .cluster/env and fails, never skips, when the cluster is missing.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    globalSetup: ['test/e2e/global-setup.ts'],
    root: new URL('..', import.meta.url).pathname,
    testTimeout: budget(180_000),
    hookTimeout: budget(300_000),
    pool: 'forks',
    fileParallelism: false,
    sequence: { concurrent: false },
    reporters: ['default'],
  },
});
