import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileInvokeAuth } from './invoke-auth.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tokenFile(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-token-'));
  dirs.push(dir);
  const file = join(dir, 'token');
  writeFileSync(file, content);
  return file;
}

describe('FileInvokeAuth', () => {
  it.each([
    { name: 'the token', token: 'a'.repeat(64), allowed: true },
    { name: 'no token', token: undefined, allowed: false },
    { name: 'an empty token', token: '', allowed: false },
    { name: 'another function’s token', token: 'b'.repeat(64), allowed: false },
    { name: 'a prefix of the token', token: 'a'.repeat(63), allowed: false },
  ])('$name → allowed: $allowed', ({ token, allowed }) => {
    const auth = new FileInvokeAuth(tokenFile(`${'a'.repeat(64)}\n`));
    expect(auth.allows(token)).toBe(allowed);
  });

  it('picks up a rotated token from the file, reading it at most once per interval', () => {
    let now = 1000;
    const file = tokenFile('old-token');
    const auth = new FileInvokeAuth(file, 1000, () => now);
    writeFileSync(file, 'new-token');
    expect(auth.allows('new-token')).toBe(false); // read less than 1 s ago
    now += 1000;
    expect(auth.allows('new-token')).toBe(true);
    expect(auth.allows('old-token')).toBe(false);
  });

  it('refuses to start without a token', () => {
    expect(() => new FileInvokeAuth(tokenFile('  \n'))).toThrow(/empty/);
    expect(() => new FileInvokeAuth('/nonexistent/token')).toThrow();
  });
});
