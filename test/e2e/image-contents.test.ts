import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../api/paths.js';
import { imageFiles, testArtifacts } from '../support/oci.js';
import { clusterEnv, imageRef } from './support/env.js';

/**
 * The images the suite runs against ship no tests and no test doubles. `make test-e2e` builds the
 * images first (test/cluster/images.sh: `tsc -p tsconfig.build.json`, then *.test.* deleted); this
 * opens the OCI layout tarball that build wrote and the cluster imported, and lists the files in
 * the layers of each Node.js image that carries Sluice's code.
 */
const dir = process.env.SLUICE_CLUSTER_DIR ?? join(ROOT, '.cluster');
const tarball = join(dir, 'images/sluice-images.tar');

describe('platform images: no test file or test double', () => {
  const env = clusterEnv();

  it.each([
    { image: 'platform', entry: 'app/dist/gateway/main.js' },
    { image: 'runtime', entry: 'app/dist/runtime/main.js' },
    { image: 'runtime-nodejs24', entry: 'app/dist/runtime/main.js' },
  ])('$image', ({ image, entry }) => {
    expect(existsSync(tarball), `${tarball} is missing: run \`make images\``).toBe(true);
    const files = imageFiles(tarball, imageRef(env, image));
    // The listing is of the real build: Sluice's entry points and compiled contracts are there.
    expect(files).toContain(entry);
    expect(files).toContain('app/dist/api/destinations.js');
    expect(testArtifacts(files)).toEqual([]);
  });
});
