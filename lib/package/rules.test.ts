import { describe, expect, it } from 'vitest';
import type { EntryHeader } from './rules.js';
import { checkSymlinkTarget, normalizeEntryName, PackageError, PackageTree, planEntry } from './rules.js';

function refusal(fn: () => unknown): PackageError {
  try {
    fn();
  } catch (err) {
    if (err instanceof PackageError) return err;
    throw err;
  }
  throw new Error('expected a PackageError');
}

describe('normalizeEntryName', () => {
  it.each([
    { name: 'plain file', input: 'index.mjs', want: 'index.mjs' },
    { name: 'directory', input: 'lib/', want: 'lib' },
    { name: 'dot segments dropped', input: './lib/./a.js', want: 'lib/a.js' },
    { name: 'empty segments dropped', input: 'lib//a.js', want: 'lib/a.js' },
    { name: 'the root itself', input: './', want: '' },
  ])('$name', ({ input, want }) => expect(normalizeEntryName(input)).toBe(want));

  it.each([
    { name: 'parent segment', input: '../evil', why: /"\.\." path segment/ },
    { name: 'parent segment inside', input: 'a/../../evil', why: /"\.\." path segment/ },
    { name: 'absolute', input: '/etc/passwd', why: /absolute/ },
    { name: 'drive letter', input: 'C:/x', why: /absolute/ },
    { name: 'backslash', input: 'a\\..\\b', why: /backslash/ },
    { name: 'UNC', input: '\\\\server\\share', why: /backslash/ },
    { name: 'NUL', input: 'a\0b', why: /NUL/ },
    { name: 'segment too long', input: `${'a'.repeat(256)}/b`, why: /longer than 255/ },
    {
      name: 'path too long',
      input: Array.from({ length: 20 }, () => 'a'.repeat(250)).join('/'),
      why: /longer than 4095/,
    },
  ])('refuses $name', ({ input, why }) => {
    const err = refusal(() => normalizeEntryName(input));
    expect(err.code).toBe('InvalidParameterValueException');
    expect(err.status).toBe(400);
    expect(err.entry).toBe(input);
    expect(err.message).toMatch(why);
  });
});

describe('planEntry', () => {
  const header = (fileName: string, mode: number, more: Partial<EntryHeader> = {}): EntryHeader => ({
    fileName,
    generalPurposeBitFlag: 0x800,
    compressionMethod: 8,
    externalFileAttributes: (mode << 16) >>> 0,
    ...more,
  });

  it.each([
    { name: 'regular file', h: header('a.js', 0o100644), kind: 'file', executable: false },
    { name: 'executable file', h: header('bootstrap', 0o100755), kind: 'file', executable: true },
    { name: 'group-executable file', h: header('run', 0o100610), kind: 'file', executable: true },
    {
      name: 'file without unix mode (made on Windows)',
      h: header('a.js', 0),
      kind: 'file',
      executable: false,
    },
    { name: 'directory', h: header('lib/', 0o040755), kind: 'directory', executable: false },
    { name: 'directory without unix mode', h: header('lib/', 0), kind: 'directory', executable: false },
    { name: 'symlink', h: header('node_modules/.bin/x', 0o120777), kind: 'symlink', executable: false },
    {
      name: 'stored file',
      h: header('a.js', 0o100644, { compressionMethod: 0 }),
      kind: 'file',
      executable: false,
    },
  ])('$name', ({ h, kind, executable }) => expect(planEntry(h)).toMatchObject({ kind, executable }));

  it.each([
    { name: 'encrypted', h: header('a.js', 0o100644, { generalPurposeBitFlag: 0x801 }), why: /encrypted/ },
    {
      name: 'strong encryption',
      h: header('a.js', 0o100644, { generalPurposeBitFlag: 0x40 }),
      why: /encrypted/,
    },
    { name: 'bzip2', h: header('a.js', 0o100644, { compressionMethod: 12 }), why: /compression method 12/ },
    { name: 'FIFO', h: header('fifo', 0o010644), why: /special file/ },
    { name: 'block device', h: header('sda', 0o060644), why: /special file/ },
    { name: 'directory mode without slash', h: header('lib', 0o040755), why: /without a trailing/ },
    { name: 'symlink with a slash', h: header('lib/', 0o120777), why: /not a directory/ },
    { name: 'file named "."', h: header('.', 0o100644), why: /empty name/ },
  ])('refuses $name', ({ h, why }) => expect(refusal(() => planEntry(h)).message).toMatch(why));
});

describe('checkSymlinkTarget', () => {
  it.each([
    { name: 'sibling', link: 'a', target: 'b' },
    { name: 'npm .bin link', link: 'node_modules/.bin/tsc', target: '../typescript/bin/tsc' },
    { name: 'pnpm link', link: 'node_modules/.pnpm/a@1/node_modules/b', target: '../../b@2/node_modules/b' },
    { name: 'to the root', link: 'a/up', target: '..' },
    { name: 'dot segments', link: 'a/l', target: './../b/./c' },
    { name: 'dangling inside', link: 'l', target: 'missing/file' },
  ])('accepts $name', ({ link, target }) =>
    expect(() => checkSymlinkTarget(link, link, target)).not.toThrow(),
  );

  it.each([
    { name: 'absolute', link: 'l', target: '/etc/passwd', why: /absolute/ },
    { name: 'drive letter', link: 'l', target: 'C:/x', why: /absolute/ },
    { name: 'leaves from the root', link: 'x', target: '../../x', why: /leaves the package/ },
    { name: 'leaves from a directory', link: 'a/b/l', target: '../../../x', why: /leaves the package/ },
    { name: 'climbs after a name', link: 'a/l', target: 'b/../../..', why: /after a name/ },
    { name: 'climbs through a possible symlink', link: 'l', target: 'n/..', why: /after a name/ },
    { name: 'backslash', link: 'l', target: '..\\..\\x', why: /backslash/ },
    { name: 'NUL', link: 'l', target: 'a\0', why: /NUL/ },
    { name: 'empty', link: 'l', target: '', why: /empty target/ },
  ])('refuses $name', ({ link, target, why }) => {
    const err = refusal(() => checkSymlinkTarget(link, link, target));
    expect(err.code).toBe('InvalidParameterValueException');
    expect(err.message).toMatch(why);
    expect(err.message).toContain(JSON.stringify(link));
  });
});

describe('PackageTree', () => {
  const plan = (path: string, kind: 'file' | 'directory' | 'symlink') => ({
    name: path,
    path,
    kind,
    executable: false,
  });

  it.each([
    { name: 'files in implicit directories', paths: [plan('a/b/c', 'file'), plan('a/d', 'file')] },
    {
      name: 'an explicit directory after its children',
      paths: [plan('a/b', 'file'), plan('a', 'directory')],
    },
    {
      name: 'an explicit directory before its children',
      paths: [plan('a', 'directory'), plan('a/b', 'file')],
    },
    { name: 'the root entry', paths: [plan('', 'directory'), plan('a', 'file')] },
  ])('accepts $name', ({ paths }) => {
    const tree = new PackageTree();
    for (const p of paths) tree.add(p);
  });

  it.each([
    { name: 'a duplicate file', paths: [plan('a', 'file'), plan('a', 'file')], why: /duplicate/ },
    {
      name: 'a duplicate directory',
      paths: [plan('a', 'directory'), plan('a', 'directory')],
      why: /duplicate/,
    },
    {
      name: 'a file and a directory of one name',
      paths: [plan('a', 'file'), plan('a', 'directory')],
      why: /duplicate/,
    },
    {
      name: 'an entry inside a file',
      paths: [plan('a', 'file'), plan('a/b', 'file')],
      why: /inside "a", which is a file/,
    },
    {
      name: 'an entry through a symlink',
      paths: [plan('l', 'symlink'), plan('l/x', 'file')],
      why: /which is a symlink/,
    },
    {
      name: 'a symlink over a directory',
      paths: [plan('a/b', 'file'), plan('a', 'symlink')],
      why: /make a directory/,
    },
  ])('refuses $name', ({ paths, why }) => {
    const tree = new PackageTree();
    const last = paths.pop()!;
    for (const p of paths) tree.add(p);
    expect(refusal(() => tree.add(last)).message).toMatch(why);
  });
});
