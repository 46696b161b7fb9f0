import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 as crc32Of } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PACKAGE_MAX_ENTRIES, PACKAGE_UNZIPPED_LIMIT, PACKAGE_ZIPPED_LIMIT } from '../../api/limits.js';
import type { CraftEntry } from '../../test/support/zip-craft.js';
import { buildZip, craftZip, deflatedZeros } from '../../test/support/zip-craft.js';
import { budget } from '../../test/support/time.js';
import { extractPackage, inspectPackage, PackageDestinationError, PackageError } from './index.js';

const MB = 1024 * 1024;
const limits = { maxUnzippedBytes: MB };

let root: string;
let dest: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'sluice-package-'));
  dest = join(root, 'dest');
});
afterEach(async () => {
  execFileSync('chmod', ['-R', 'u+rwx', root]);
  await rm(root, { recursive: true, force: true });
});

/** Every path under `dir` (not following symlinks), relative, sorted. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const dirent of await readdir(dir, { withFileTypes: true })) {
    out.push(dirent.name);
    if (dirent.isDirectory())
      out.push(...(await tree(join(dir, dirent.name))).map((p) => `${dirent.name}/${p}`));
  }
  return out.sort();
}

async function refusalOf(work: Promise<unknown>): Promise<PackageError> {
  const err = await work.then(
    () => new Error('expected a refusal'),
    (e: unknown) => e,
  );
  if (err instanceof PackageError) return err;
  throw err;
}

const symlinkMode = 0o120777;

describe('inspectPackage and extractPackage on good packages', () => {
  const entries = [
    { name: 'index.mjs', data: 'export const handler = async () => 42;\n' },
    { name: 'lib/', mode: 0o040755 },
    { name: 'lib/util/helper.js', data: 'module.exports = 1;\n' },
    { name: 'node_modules/pkg/package.json', data: '{"name":"pkg","bin":"cli.js"}' },
    { name: 'node_modules/pkg/cli.js', data: '#!/usr/bin/env node\n', mode: 0o100755 },
    { name: 'node_modules/.bin/pkg', data: '../pkg/cli.js', mode: symlinkMode },
    { name: 'bootstrap', data: '#!/bin/sh\necho booted\n', mode: 0o100755 },
    { name: 'empty/', mode: 0o040700 },
    { name: 'stored.txt', data: 'not compressed', compress: false },
  ];
  const unzipped = entries.reduce((n, e) => n + Buffer.byteLength(e.data ?? ''), 0);

  it('inspect summarizes the package', async () => {
    const zip = await buildZip(entries);
    const summary = await inspectPackage(zip, limits);
    expect(summary).toEqual({
      digest: `sha256:${createHash('sha256').update(zip).digest('hex')}`,
      zippedBytes: zip.length,
      unzippedBytes: unzipped,
      entries: entries.length,
      hasBootstrap: true,
    });
  });

  it('extract writes the tree read-only, executables 0555, internal symlinks', async () => {
    const zip = await buildZip(entries);
    const summary = await extractPackage(zip, dest, limits);
    expect(summary).toEqual(await inspectPackage(zip, limits));
    expect(await tree(dest)).toEqual(
      [
        'bootstrap',
        'empty',
        'index.mjs',
        'lib',
        'lib/util',
        'lib/util/helper.js',
        'node_modules',
        'node_modules/.bin',
        'node_modules/.bin/pkg',
        'node_modules/pkg',
        'node_modules/pkg/cli.js',
        'node_modules/pkg/package.json',
        'stored.txt',
      ].sort(),
    );
    const mode = async (p: string): Promise<number> => (await lstat(join(dest, p))).mode & 0o7777;
    for (const dir of ['', 'empty', 'lib', 'lib/util', 'node_modules', 'node_modules/.bin'])
      expect(await mode(dir)).toBe(0o555);
    for (const file of ['index.mjs', 'lib/util/helper.js', 'node_modules/pkg/package.json', 'stored.txt']) {
      expect(await mode(file)).toBe(0o444);
    }
    expect(await mode('bootstrap')).toBe(0o555);
    expect(await mode('node_modules/pkg/cli.js')).toBe(0o555);
    expect(await readlink(join(dest, 'node_modules/.bin/pkg'))).toBe('../pkg/cli.js');
    expect(await readFile(join(dest, 'node_modules/.bin/pkg'), 'utf8')).toBe('#!/usr/bin/env node\n');
    expect(await readFile(join(dest, 'index.mjs'), 'utf8')).toBe(entries[0]!.data);
    expect(execFileSync(join(dest, 'bootstrap'), { encoding: 'utf8' })).toBe('booted\n');
  });

  it('hasBootstrap is false without a root bootstrap', async () => {
    const zip = await buildZip([{ name: 'bin/bootstrap', data: 'x', mode: 0o100755 }]);
    expect((await inspectPackage(zip, limits)).hasBootstrap).toBe(false);
  });

  it('a 30 MB package of many files extracts intact and its digest matches sha256sum', async () => {
    const files = Array.from({ length: 1500 }, (_, i) => ({
      name: `node_modules/m${i % 40}/f${i}.bin`,
      data: randomBytes(20_000),
      compress: i % 10 === 0,
    }));
    const zip = await buildZip(files);
    expect(zip.length).toBeGreaterThan(30_000_000);
    const file = join(root, 'package.zip');
    await writeFile(file, zip);
    const sha256sum = execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0];

    const summary = await extractPackage(zip, dest, { maxUnzippedBytes: PACKAGE_UNZIPPED_LIMIT });
    expect(summary.digest).toBe(`sha256:${sha256sum}`);
    expect(summary.entries).toBe(files.length);
    expect(summary.unzippedBytes).toBe(files.length * 20_000);
    for (const f of files) expect((await readFile(join(dest, f.name))).equals(f.data)).toBe(true);
  });

  it('inflates a 200 MB entry within the real limit without holding it', async () => {
    const bytes = 200 * MB;
    const raw = await deflatedZeros(bytes);
    const zip = craftZip([{ name: 'zeros', raw, crc32: zerosCrc(bytes), uncompressedSize: bytes }]);
    const { peak, result } = await peakRss(() =>
      inspectPackage(zip, { maxUnzippedBytes: PACKAGE_UNZIPPED_LIMIT }),
    );
    expect(result.unzippedBytes).toBe(bytes);
    expect(peak).toBeLessThan(120 * MB);
  });
});

/** CRC-32 of `bytes` zeros, computed in steps. */
function zerosCrc(bytes: number): number {
  const step = Buffer.alloc(MB);
  let crc = 0;
  for (let left = bytes; left > 0; left -= step.length) {
    crc = crc32Of(left >= step.length ? step : step.subarray(0, left), crc);
  }
  return crc;
}
/** Runs `fn`, sampling the resident set; returns the peak above the starting value. */
async function peakRss<T>(fn: () => Promise<T>): Promise<{ peak: number; result: T }> {
  const start = process.memoryUsage.rss();
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss() - start)), 2);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage.rss() - start);
    return { peak, result };
  } finally {
    clearInterval(timer);
  }
}

describe('refused packages', () => {
  const link = (name: string, target: string): CraftEntry => ({ name, content: target, mode: symlinkMode });
  const good = (): Promise<Buffer> =>
    buildZip([
      { name: 'a.js', data: 'x'.repeat(5000) },
      { name: 'b.js', data: 'y'.repeat(5000) },
    ]);
  const bomb = async (declared: number, actual: number): Promise<Buffer> =>
    craftZip([
      {
        name: 'zeros.bin',
        raw: await deflatedZeros(actual),
        crc32: zerosCrc(actual),
        uncompressedSize: declared,
      },
    ]);

  it.each([
    {
      name: 'parent traversal',
      zip: () => craftZip([{ name: '../evil', content: 'x' }]),
      why: /"\.\.\/evil" has a "\.\." path segment/,
    },
    {
      name: 'traversal inside a path',
      zip: () => craftZip([{ name: 'a/../../evil', content: 'x' }]),
      why: /"\.\." path segment/,
    },
    {
      name: 'absolute path',
      zip: () => craftZip([{ name: '/abs', content: 'x' }]),
      why: /"\/abs" is an absolute path/,
    },
    { name: 'drive letter', zip: () => craftZip([{ name: 'C:/x', content: 'x' }]), why: /absolute path/ },
    {
      name: 'Windows absolute path',
      zip: () => craftZip([{ name: 'C:\\x', content: 'x' }]),
      why: /backslash/,
    },
    {
      name: 'UNC path',
      zip: () => craftZip([{ name: '\\\\server\\share\\x', content: 'x' }]),
      why: /backslash/,
    },
    {
      name: 'backslash traversal',
      zip: () => craftZip([{ name: 'a\\..\\b', content: 'x' }]),
      why: /"a\\\\\.\.\\\\b" has a backslash/,
    },
    {
      name: 'symlink to /etc/passwd',
      zip: () => craftZip([link('passwd', '/etc/passwd')]),
      why: /"passwd" is a symlink to "\/etc\/passwd", which is absolute/,
    },
    {
      name: 'symlink out of the tree',
      zip: () => craftZip([link('x', '../../x')]),
      why: /"x" is a symlink to "\.\.\/\.\.\/x", which leaves the package/,
    },
    {
      name: 'symlink out from a subdirectory',
      zip: () => craftZip([link('a/b/x', '../../../x')]),
      why: /leaves the package/,
    },
    {
      name: 'symlink climbing after a name',
      zip: () => craftZip([link('up', '.'), link('a/x', 'up/../../x')]),
      why: /after a name/,
    },
    {
      name: 'entry written through a symlink',
      zip: () =>
        craftZip([{ name: 'dir/', mode: 0o040755 }, link('l', 'dir'), { name: 'l/evil', content: 'x' }]),
      why: /"l\/evil" is inside "l", which is a symlink/,
    },
    {
      name: 'duplicate names',
      zip: () =>
        craftZip([
          { name: 'a.js', content: '1' },
          { name: 'a.js', content: '2' },
        ]),
      why: /"a.js" is a duplicate/,
    },
    {
      name: 'duplicates after normalizing',
      zip: () =>
        craftZip([
          { name: 'a/b', content: '1' },
          { name: 'a/./b', content: '2' },
        ]),
      why: /duplicate/,
    },
    {
      name: 'encrypted entry',
      zip: () => craftZip([{ name: 'secret', content: 'x', flags: 0x801 }]),
      why: /"secret" is encrypted/,
    },
    {
      name: 'strong encryption',
      zip: () => craftZip([{ name: 'secret', content: 'x', flags: 0x841 }]),
      why: /encrypt/,
    },
    {
      name: 'bad CRC',
      zip: () => craftZip([{ name: 'a.js', content: 'hello', crc32: 0xdeadbeef }]),
      why: /"a.js" fails its CRC-32 check/,
    },
    { name: 'truncated file', zip: async () => (await good()).subarray(0, 100), why: /not a readable zip/ },
    {
      name: 'truncated entry data',
      zip: () => craftZip([{ name: 'a.js', content: 'hello', compressedSize: 4000 }]),
      why: /"a.js" cannot be read: corrupt or truncated/,
    },
    {
      name: 'corrupt deflate data',
      zip: () =>
        craftZip([{ name: 'a.js', raw: Buffer.from([0xff, 0xff, 0xff, 0xff]), uncompressedSize: 5 }]),
      why: /"a.js" cannot be read/,
    },
    {
      name: 'truncated central directory',
      zip: async () => {
        const zip = await good();
        return Buffer.concat([zip.subarray(0, zip.length - 40), zip.subarray(zip.length - 22)]);
      },
      why: /not a readable zip/,
    },
    { name: 'garbage bytes', zip: () => randomBytes(10_000), why: /not a readable zip/ },
    { name: 'empty file', zip: () => Buffer.alloc(0), why: /not a readable zip/ },
    {
      name: 'local header names another file',
      zip: () => craftZip([{ name: 'ok.js', localName: '../evil', content: 'x' }]),
      why: /another name in its local header/,
    },
    {
      name: 'bzip2 entry',
      zip: () => craftZip([{ name: 'a.js', raw: Buffer.from('BZh'), method: 12, uncompressedSize: 3 }]),
      why: /compression method 12/,
    },
    { name: 'FIFO', zip: () => craftZip([{ name: 'fifo', mode: 0o010644 }]), why: /special file/ },
    {
      name: 'directory with content',
      zip: () => craftZip([{ name: 'd/', content: 'x' }]),
      why: /"d\/" is a directory with content/,
    },
    {
      name: 'file where a directory is',
      zip: () =>
        craftZip([
          { name: 'a/b', content: '1' },
          { name: 'a', content: '2' },
        ]),
      why: /where other entries make a directory/,
    },
    {
      name: 'too many entries',
      zip: () => craftZip(Array.from({ length: PACKAGE_MAX_ENTRIES + 1 }, (_, i) => ({ name: `f${i}` }))),
      why: /has 20001 entries, more than the 20000 allowed/,
    },
    {
      name: 'end record lying about the entry count',
      zip: () => craftZip([{ name: 'a', content: 'x' }], { entryCount: 3 }),
      why: /not a readable zip/,
    },
    {
      name: 'bomb declaring a small size',
      zip: () => bomb(1000, 10 * MB),
      why: /"zeros.bin" inflates to more than its declared size/,
    },
    {
      name: 'bomb declaring its size',
      zip: () => bomb(10 * MB, 10 * MB),
      why: /^Unzipped size must be smaller than 1048576 bytes \(entry "zeros.bin" declares 10485760 bytes/,
    },
    {
      name: 'entries declaring a total over the limit',
      zip: () =>
        buildZip([
          { name: 'a', data: Buffer.alloc(600_000) },
          { name: 'b', data: Buffer.alloc(600_000) },
        ]),
      why: /^Unzipped size must be smaller than 1048576 bytes \(entry "b" declares 600000 bytes, a declared total of 1200000/,
    },
  ])('$name', async ({ zip, why }) => {
    const bytes = await zip();
    const inspected = await refusalOf(inspectPackage(bytes, limits));
    expect(inspected.code).toBe('InvalidParameterValueException');
    expect(inspected.status).toBe(400);
    expect(inspected.message).toMatch(why);

    const extracted = await refusalOf(extractPackage(bytes, dest, limits));
    expect(extracted.message).toBe(inspected.message);
    expect(await tree(root)).toEqual([]); // dest removed, nothing written beside it
  });

  it('refuses a zip over 50 MB with RequestEntityTooLargeException before reading it', async () => {
    const zip = Buffer.alloc(PACKAGE_ZIPPED_LIMIT + 1);
    for (const work of [inspectPackage(zip, limits), extractPackage(zip, dest, limits)]) {
      const err = await refusalOf(work);
      expect(err.code).toBe('RequestEntityTooLargeException');
      expect(err.status).toBe(413);
      expect(err.message).toMatch(/must be at most 52428800 bytes/);
    }
    expect(await tree(root)).toEqual([]);
  });

  it.each([
    { name: 'lying about its size', declared: 1000 },
    { name: 'declaring its size', declared: 300 * MB },
  ])(
    'refuses 300 MB of zeros $name at the real limit, quickly and in little memory',
    async ({ declared }) => {
      const zip = await bomb(declared, 300 * MB);
      for (const work of [
        () => inspectPackage(zip, { maxUnzippedBytes: PACKAGE_UNZIPPED_LIMIT }),
        () => extractPackage(zip, dest, { maxUnzippedBytes: PACKAGE_UNZIPPED_LIMIT }),
      ]) {
        const started = Date.now();
        const { peak, result } = await peakRss(() => refusalOf(work()));
        expect(result.code).toBe('InvalidParameterValueException');
        expect(Date.now() - started).toBeLessThan(budget(1000));
        expect(peak).toBeLessThan(64 * MB);
      }
      expect(await tree(root)).toEqual([]);
    },
  );

  it('an existing empty destination is emptied, not removed, on refusal', async () => {
    await mkdir(dest);
    const zip = craftZip([
      { name: 'a.js', content: 'fine' },
      { name: 'b.js', content: 'bad', crc32: 1 },
    ]);
    await refusalOf(extractPackage(zip, dest, limits));
    expect(await tree(root)).toEqual(['dest']);
  });
});

describe('extractPackage destinations and layers', () => {
  it('refuses a destination that is not empty, unless merging', async () => {
    await mkdir(dest);
    await writeFile(join(dest, 'keep'), 'x');
    const zip = await buildZip([{ name: 'a', data: '1' }]);
    await expect(extractPackage(zip, dest, limits)).rejects.toThrow(PackageDestinationError);
    expect(await tree(dest)).toEqual(['keep']);
    await extractPackage(zip, dest, { ...limits, merge: true });
    expect(await tree(dest)).toEqual(['a', 'keep']);
  });

  it('refuses a destination that is a symlink or a file', async () => {
    const outside = join(root, 'outside');
    await mkdir(outside);
    await symlink(outside, dest);
    const zip = await buildZip([{ name: 'a', data: '1' }]);
    await expect(extractPackage(zip, dest, limits)).rejects.toThrow(/is a symlink, not a directory/);
    await writeFile(join(root, 'file'), 'x');
    await expect(extractPackage(zip, join(root, 'file'), limits)).rejects.toThrow(PackageDestinationError);
    expect(await tree(outside)).toEqual([]);
  });

  it('later layers replace earlier files without following the symlinks they left', async () => {
    const layer1 = await buildZip([
      { name: 'lib/a.txt', data: 'one' },
      { name: 'lib/shared.txt', data: 'one' },
      { name: 'lib/link', data: 'a.txt', mode: symlinkMode },
      { name: 'bin/tool', data: 'one', mode: 0o100755 },
    ]);
    const layer2 = await buildZip([
      { name: 'lib/shared.txt', data: 'two' },
      { name: 'lib/link', data: 'two' },
      { name: 'lib/new/b.txt', data: 'two' },
    ]);
    await extractPackage(layer1, dest, { ...limits, merge: true });
    const summary = await extractPackage(layer2, dest, { ...limits, merge: true });
    expect(summary.entries).toBe(3);
    const read = (p: string): Promise<string> => readFile(join(dest, p), 'utf8');
    expect(await read('lib/a.txt')).toBe('one');
    expect(await read('lib/shared.txt')).toBe('two');
    expect((await lstat(join(dest, 'lib/link'))).isFile()).toBe(true);
    expect(await read('lib/link')).toBe('two');
    expect(await read('lib/new/b.txt')).toBe('two');
    expect(await read('bin/tool')).toBe('one');
    for (const dir of ['', 'lib', 'lib/new', 'bin'])
      expect((await lstat(join(dest, dir))).mode & 0o7777).toBe(0o555);
    expect((await lstat(join(dest, 'bin/tool'))).mode & 0o7777).toBe(0o555);
  });

  it('a planted symlink to a file outside is replaced, never written through', async () => {
    const outside = join(root, 'outside.txt');
    writeFileSync(outside, 'untouched');
    mkdirSync(dest);
    await symlink(outside, join(dest, 'evil'));
    await extractPackage(await buildZip([{ name: 'evil', data: 'layer' }]), dest, { ...limits, merge: true });
    expect((await lstat(join(dest, 'evil'))).isFile()).toBe(true);
    expect(await readFile(outside, 'utf8')).toBe('untouched');
  });

  it('a planted symlink to a directory outside is refused as a parent; dest is emptied', async () => {
    const outside = join(root, 'outside');
    mkdirSync(outside);
    mkdirSync(dest);
    await symlink(outside, join(dest, 'lib'));
    const err = await refusalOf(
      extractPackage(await buildZip([{ name: 'lib/x.js', data: 'x' }]), dest, { ...limits, merge: true }),
    );
    expect(err.code).toBe('InvalidParameterValueException');
    expect(err.message).toMatch(
      /"lib\/x.js" would be written through "lib", which an earlier layer made a symlink/,
    );
    expect(await tree(outside)).toEqual([]);
    expect(await tree(dest)).toEqual([]);
  });

  it('a later layer cannot put a file where an earlier one made a directory', async () => {
    await extractPackage(await buildZip([{ name: 'lib/x', data: '1' }]), dest, { ...limits, merge: true });
    const err = await refusalOf(
      extractPackage(await buildZip([{ name: 'lib', data: '2' }]), dest, { ...limits, merge: true }),
    );
    expect(err.message).toMatch(/"lib" is a file where an earlier layer made a directory/);
    expect(await tree(root)).toEqual(['dest']); // emptied, earlier layer too; kept: this call did not create it
  });

  it('a destination the call did not create keeps its mode', async () => {
    mkdirSync(dest);
    chmodSync(dest, 0o755);
    await extractPackage(await buildZip([{ name: 'a', data: '1' }]), dest, { ...limits, merge: true });
    expect((await lstat(dest)).mode & 0o7777).toBe(0o755);
  });
});
