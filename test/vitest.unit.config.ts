import { defineConfig } from 'vitest/config';
import { budget } from './support/time.js';

// Unit tests: pure code and fakes of narrow interfaces; no servers, no cluster.
export default defineConfig({
  test: {
    include: ['{api,lib,controller,gateway,poller,runtime}/**/*.test.ts', 'test/unit/**/*.test.ts'],
    root: new URL('..', import.meta.url).pathname,
    testTimeout: budget(15_000),
  },
});
