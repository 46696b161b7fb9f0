import { configDefaults, defineConfig } from 'vitest/config';
import { budget } from './support/time.js';

// End-to-end tests on the real local cluster (make cluster-up && make images first; `make test-e2e`
// does both). The suite reads .cluster/env and fails, never skips, when the cluster is missing.
// The chaos test (minutes of faults) runs only with SLUICE_CHAOS=1: `make chaos`.
const CHAOS = 'test/e2e/chaos.test.ts';
const chaos = process.env.SLUICE_CHAOS === '1';

export default defineConfig({
  test: {
    include: chaos ? [CHAOS] : ['test/e2e/**/*.test.ts'],
    exclude: chaos ? configDefaults.exclude : [...configDefaults.exclude, CHAOS],
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
