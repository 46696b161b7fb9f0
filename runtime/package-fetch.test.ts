import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { INVOKE_TOKEN_HEADER } from '../api/invoke-token.js';
import { packageDigest } from '../lib/package/index.js';
import { buildZip } from '../test/support/zip-craft.js';
import {
  downloadPackage,
  installPackages,
  PackageFetchError,
  parsePackages,
  type Fetch,
} from './package-fetch.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'sluice-fetch-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) {
    rmSync(d, { recursive: true, force: true });
  }
});

/** A gateway that serves zips by URL, recording the headers it was sent. */
function gateway(zips: Record<string, Buffer | number>): { fetch: Fetch; seen: Record<string, string>[] } {
  const seen: Record<string, string>[] = [];
  return {
    seen,
    fetch: (url, init) => {
      seen.push(init.headers);
      const z = zips[url];
      if (typeof z === 'number') return Promise.resolve(new Response('nope', { status: z }));
      if (!z) return Promise.reject(new TypeError('fetch failed'));
      return Promise.resolve(new Response(new Uint8Array(z), { status: 200 }));
    },
  };
}

describe('installPackages', () => {
  it('unpacks the layers in order into the layer directory (a later one wins) and the package into the code directory, sending the invoke token', async () => {
    const code = await buildZip([
      { name: 'index.js', data: 'exports.handler = async () => require("dep")' },
      { name: 'node_modules/dep/index.js', data: 'module.exports = 1' },
    ]);
    const layer1 = await buildZip([
      { name: 'nodejs/node_modules/shared/index.js', data: 'one' },
      { name: 'bin/tool', data: '#!/bin/sh\n', mode: 0o100755 },
    ]);
    const layer2 = await buildZip([{ name: 'nodejs/node_modules/shared/index.js', data: 'two' }]);
    const gw = gateway({ 'http://gw/code': code, 'http://gw/l1': layer1, 'http://gw/l2': layer2 });
    const codeDir = tmp();
    const layerDir = tmp();
    const r = await installPackages(
      {
        packages: [
          { kind: 'code', url: 'http://gw/code', digest: packageDigest(code) },
          { kind: 'layer', url: 'http://gw/l1', digest: packageDigest(layer1) },
          { kind: 'layer', url: 'http://gw/l2', digest: packageDigest(layer2) },
        ],
        codeDir,
        layerDir,
        token: 'tok',
      },
      gw.fetch,
    );
    expect(r.packages).toBe(3);
    expect(readFileSync(join(codeDir, 'node_modules/dep/index.js'), 'utf8')).toBe('module.exports = 1');
    expect(readFileSync(join(layerDir, 'nodejs/node_modules/shared/index.js'), 'utf8')).toBe('two');
    expect(statSync(join(layerDir, 'bin/tool')).mode & 0o777).toBe(0o555);
    expect(statSync(join(codeDir, 'index.js')).mode & 0o777).toBe(0o444);
    expect(gw.seen.every((h) => h[INVOKE_TOKEN_HEADER] === 'tok')).toBe(true);
  });

  it('refuses a download whose bytes do not hash to the digest (retryable), and writes nothing', async () => {
    const code = await buildZip([{ name: 'index.js', data: 'x' }]);
    const other = await buildZip([{ name: 'index.js', data: 'evil' }]);
    const gw = gateway({ 'http://gw/code': other });
    const codeDir = tmp();
    const err = await installPackages(
      {
        packages: [{ kind: 'code', url: 'http://gw/code', digest: packageDigest(code) }],
        codeDir,
        layerDir: tmp(),
      },
      gw.fetch,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageFetchError);
    expect((err as PackageFetchError).message).toMatch(/hashes to sha256:/);
    expect((err as PackageFetchError).retryable).toBe(true);
    expect(() => readFileSync(join(codeDir, 'index.js'))).toThrow();
  });

  it.each([
    { status: 404, retryable: false },
    { status: 403, retryable: false },
    { status: 503, retryable: true },
    { status: 429, retryable: true },
  ])('a $status from the gateway: retryable $retryable', async ({ status, retryable }) => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const err = await downloadPackage(
      { kind: 'code', url: 'http://gw/x', digest },
      't',
      gateway({ 'http://gw/x': status }).fetch,
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'PackageFetchError', retryable });
    expect((err as Error).message).toContain(String(status));
  });

  it('an unreachable gateway is retryable', async () => {
    const err = await downloadPackage(
      { kind: 'code', url: 'http://gw/none', digest: `sha256:${'b'.repeat(64)}` },
      undefined,
      gateway({}).fetch,
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ retryable: true });
  });
});

describe('parsePackages', () => {
  it('reads the controller-written plan and refuses malformed entries', () => {
    const d = `sha256:${'c'.repeat(64)}`;
    expect(parsePackages(JSON.stringify([{ url: 'http://gw/a', digest: d, kind: 'layer' }]))).toEqual([
      { url: 'http://gw/a', digest: d, kind: 'layer' },
    ]);
    expect(() => parsePackages('{}')).toThrow('JSON array');
    expect(() => parsePackages(JSON.stringify([{ url: 'u', digest: 'md5:x', kind: 'code' }]))).toThrow(
      'sha256',
    );
    expect(() => parsePackages(JSON.stringify([{ url: 'u', digest: d, kind: 'image' }]))).toThrow(
      'kind: code|layer',
    );
  });
});
