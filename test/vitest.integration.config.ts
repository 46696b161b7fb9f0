import { defineConfig } from 'vitest/config';

// Integration tests: real processes and servers on loopback (nats-server, the runtime).
export default defineConfig({
  test: {
    include: ['test/integration/**/*.test.ts'],
    root: new URL('..', import.meta.url).pathname,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
