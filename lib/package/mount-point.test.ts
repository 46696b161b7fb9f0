import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { buildZip } from '../../test/support/zip-craft.js';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'sluice-mount-'));
chmodSync(work, 0o755);
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * A pod's emptyDir is a directory owned by root and open to all (0777); sluice-fetch-code runs as
 * an unprivileged user and unpacks into it. chmod on a directory one does not own fails (EPERM)
 * even to the mode it already has — the first cluster run of zip packages failed exactly so.
 */
describe('unpacking into a mount point the process does not own', () => {
  it('an unprivileged user unpacks a package and a layer into root-owned 0777 directories', async () => {
    expect(process.getuid?.()).toBe(0); // the test plays root (the kubelet) and the pod's user
    const task = join(work, 'task');
    const opt = join(work, 'opt');
    for (const d of [task, opt]) {
      rmSync(d, { recursive: true, force: true });
    }
    await run('mkdir', ['-m', '0777', task, opt]);
    const code = await buildZip([
      { name: 'index.js', data: 'exports.handler = 1' },
      { name: 'bootstrap', data: '#!/bin/sh\n', mode: 0o100755 },
    ]);
    const layer = await buildZip([{ name: 'nodejs/node_modules/x/index.js', data: 'module.exports = 2' }]);
    writeFileSync(join(work, 'code.zip'), code);
    writeFileSync(join(work, 'layer.zip'), layer);
    chmodSync(join(work, 'code.zip'), 0o644);
    chmodSync(join(work, 'layer.zip'), 0o644);
    const script = `
      import { readFileSync } from 'node:fs';
      import { extractPackage } from '${ROOT}lib/package/index.ts';
      const limits = { maxUnzippedBytes: 1 << 20, merge: true };
      await extractPackage(readFileSync('${work}/layer.zip'), '${opt}', limits);
      await extractPackage(readFileSync('${work}/code.zip'), '${task}', limits);
    `;
    writeFileSync(join(work, 'unpack.mts'), script);
    chmodSync(join(work, 'unpack.mts'), 0o644);
    await run(join(ROOT, 'node_modules/.bin/tsx'), [join(work, 'unpack.mts')], {
      uid: 65534,
      gid: 65534,
      cwd: work,
      env: { PATH: process.env.PATH ?? '', HOME: work, TSX_DISABLE_CACHE: '1' },
    });
    expect(readFileSync(join(task, 'index.js'), 'utf8')).toBe('exports.handler = 1');
    expect(statSync(join(task, 'bootstrap')).mode & 0o777).toBe(0o555);
    expect(readFileSync(join(opt, 'nodejs/node_modules/x/index.js'), 'utf8')).toBe('module.exports = 2');
    expect(statSync(join(task, 'index.js')).uid).toBe(65534);
  });
});
