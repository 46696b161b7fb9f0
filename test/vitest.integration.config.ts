import { defineConfig } from 'vitest/config';
import { budget } from './support/time.js';

// Integration tests: real processes and servers on loopback (nats-server, the runtime).
export default defineConfig({
  test: {
    include: ['test/integration/**/*.test.ts'],
    root: new URL('..', import.meta.url).pathname,
    testTimeout: budget(60_000),
    hookTimeout: budget(60_000),
    pool: 'forks',
    fileParallelism: false,
  },
});
