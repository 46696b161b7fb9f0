import { describe, expect, it } from 'vitest';
import { backoffMs } from './watch.js';

describe('backoffMs', () => {
  it.each([
    { name: 'first retry waits the first delay', failures: 1, want: 3000 },
    { name: 'doubles', failures: 2, want: 6000 },
    { name: 'doubles again', failures: 4, want: 24_000 },
    { name: 'capped at the maximum', failures: 6, want: 60_000 },
    { name: 'stays capped after many failures', failures: 500, want: 60_000 },
  ])('$name', ({ failures, want }) => expect(backoffMs(failures, 3000, 60_000)).toBe(want));
});
