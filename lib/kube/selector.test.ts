import { describe, expect, it } from 'vitest';
import { matchesSelector, selectorOf } from './selector.js';

describe('matchesSelector', () => {
  const labels = { app: 'web', tier: 'front' };
  it.each([
    { name: 'no selector matches everything', selector: undefined, want: true },
    { name: 'equality', selector: 'app=web', want: true },
    { name: 'double equals', selector: 'app==web', want: true },
    { name: 'all terms must hold', selector: 'app=web,tier=back', want: false },
    { name: 'inequality', selector: 'tier!=back', want: true },
    { name: 'inequality fails on the value', selector: 'tier!=front', want: false },
    { name: 'exists', selector: 'app', want: true },
    { name: 'does not exist', selector: '!zone', want: true },
    { name: 'exists fails', selector: 'zone', want: false },
    { name: 'missing label fails equality', selector: 'zone=a', want: false },
  ])('$name', ({ selector, want }) => expect(matchesSelector(labels, selector)).toBe(want));

  it('refuses set-based terms', () => expect(() => matchesSelector(labels, 'app in (web)')).toThrow());
  it('selectorOf joins labels', () => expect(selectorOf(labels)).toBe('app=web,tier=front'));
});
