import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../api/paths.js';
import { imageFiles, imageNames, testArtifacts } from '../support/oci.js';

/**
 * The reader behind test/e2e/image-contents.test.ts, checked on a layout written by the same
 * packer test/cluster/images.sh uses (images/lib/oci.sh): two layers, long paths (pax headers), a
 * symlink, and test artifacts planted where a bad build would leave them.
 */
const dir = mkdtempSync(join(tmpdir(), 'sluice-oci-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tree(root: string, files: string[]): string {
  for (const f of files) {
    mkdirSync(join(root, dirname(f)), { recursive: true });
    writeFileSync(join(root, f), f);
  }
  return root;
}

const longPath = `app/dist/${'deeply/'.repeat(20)}nested.js`;
const clean = ['app/package.json', 'app/dist/gateway/main.js', 'app/dist/api/records.js', longPath];
const planted = [
  'app/dist/gateway/async/runner.test.js',
  'app/dist/test/support/poller/fake-invoker.js',
  'app/dist/poller/testing/kit.js',
  'app/dist/gateway/async/fake-invoker.js',
];
const thirdParty = ['app/node_modules/some-lib/testing/helper.js', 'app/node_modules/other/x.test.js'];

function pack(): string {
  const base = tree(join(dir, 'base'), ['nodejs/bin/node', 'etc/passwd']);
  mkdirSync(join(base, 'usr/bin'), { recursive: true });
  symlinkSync('/nodejs/bin/node', join(base, 'usr/bin/node'));
  tree(join(dir, 'app'), [...clean, ...thirdParty]);
  tree(join(dir, 'dirty'), [...clean, ...planted]);
  const script = `
    set -euo pipefail
    . "${ROOT}/images/lib/oci.sh"
    L="${dir}/layout"; oci_new "$L"
    base=$(oci_layer "$L" "${dir}/base")
    m1=$(oci_image "$L" '{"User":"65532"}' "$base" "$(oci_layer "$L" "${dir}/app")")
    m2=$(oci_image "$L" '{"User":"65532"}' "$base" "$(oci_layer "$L" "${dir}/dirty")")
    printf '%s localhost/sluice/clean:dev\\n%s localhost/sluice/dirty:dev\\n' "$m1" "$m2" | oci_index "$L"
    oci_pack "$L" "${dir}/images.tar"`;
  execFileSync('bash', ['-c', script], { stdio: 'pipe' });
  return join(dir, 'images.tar');
}

describe('listing an image of an OCI layout tarball (test/support/oci.ts)', () => {
  const tarball = pack();

  it('names the images of the layout', () => {
    expect(imageNames(tarball)).toEqual(['localhost/sluice/clean:dev', 'localhost/sluice/dirty:dev']);
  });

  it('lists every file and symlink of every layer, long paths included', () => {
    expect(imageFiles(tarball, 'localhost/sluice/clean:dev')).toEqual(
      ['nodejs/bin/node', 'etc/passwd', 'usr/bin/node', ...clean, ...thirdParty].sort(),
    );
  });

  it("finds planted tests and test doubles, and judges only Sluice's own code", () => {
    expect(testArtifacts(imageFiles(tarball, 'localhost/sluice/clean:dev'))).toEqual([]);
    expect(testArtifacts(imageFiles(tarball, 'localhost/sluice/dirty:dev'))).toEqual([...planted].sort());
  });

  it('fails on an image the layout does not hold', () => {
    expect(() => imageFiles(tarball, 'localhost/sluice/platform:dev')).toThrow(/not in .* holds/);
  });
});
