import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/**
 * Reads the OCI image-layout tarball test/cluster/images.sh writes (.cluster/images/sluice-images.tar,
 * the same bytes the cluster's containerd imports) and lists an image's files, layer by layer.
 * Plain tar (ustar and pax, as GNU tar writes it) and gzip layers; no dependency.
 */

interface Entry {
  path: string;
  /** '0' file, '5' directory, '2' symlink, … */
  type: string;
  data: Buffer;
}

function field(b: Buffer, start: number, len: number): string {
  const raw = b.subarray(start, start + len);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul === -1 ? len : nul).toString('utf8');
}

/** pax extended header records: "LEN key=value\n". */
function paxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    if (space === -1) break;
    const len = Number(data.subarray(i, space).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0) break;
    const rec = data.subarray(space + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** The entries of a tar archive (gzip-compressed or not); paths without a leading "./" or "/". */
export function tarEntries(archive: Buffer): Entry[] {
  const tar = archive[0] === 0x1f && archive[1] === 0x8b ? gunzipSync(archive) : archive;
  const out: Entry[] = [];
  let off = 0;
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const size = parseInt(field(h, 124, 12).trim() || '0', 8);
    const type = field(h, 156, 1) || '0';
    const prefix = field(h, 345, 155);
    const name = prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100);
    const data = tar.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      pax = paxRecords(data);
      continue;
    }
    if (type === 'g') continue;
    if (type === 'L') {
      longName = field(data, 0, data.length);
      continue;
    }
    const path = (pax.path ?? longName ?? name).replace(/^\.?\/+/, '').replace(/^\.$/, '');
    pax = {};
    longName = undefined;
    if (path) out.push({ path, type, data });
  }
  return out;
}

interface Descriptor {
  digest: string;
  annotations?: Record<string, string>;
}

/** The image references in a layout tarball (`io.containerd.image.name`). */
export function imageNames(tarball: string): string[] {
  const blobs = layoutFiles(tarball);
  return indexOf(blobs).manifests.flatMap((m) => m.annotations?.['io.containerd.image.name'] ?? []);
}

function layoutFiles(tarball: string): Map<string, Buffer> {
  return new Map(
    tarEntries(readFileSync(tarball))
      .filter((e) => e.type === '0')
      .map((e) => [e.path, e.data]),
  );
}

function indexOf(files: Map<string, Buffer>): { manifests: Descriptor[] } {
  const index = files.get('index.json');
  if (!index) throw new Error('not an OCI image layout: no index.json');
  return JSON.parse(index.toString('utf8')) as { manifests: Descriptor[] };
}

/**
 * Every regular file and symlink of image `ref` in an OCI layout tarball, as paths from the image
 * root (e.g. `app/dist/gateway/main.js`), over all its layers, sorted.
 */
export function imageFiles(tarball: string, ref: string): string[] {
  const files = layoutFiles(tarball);
  const blob = (digest: string): Buffer => {
    const b = files.get(`blobs/${digest.replace(':', '/')}`);
    if (!b) throw new Error(`blob ${digest} missing from ${tarball}`);
    return b;
  };
  const index = indexOf(files);
  const entry = index.manifests.find((m) => m.annotations?.['io.containerd.image.name'] === ref);
  if (!entry) {
    const names = index.manifests.map((m) => m.annotations?.['io.containerd.image.name']).join(', ');
    throw new Error(`${ref} is not in ${tarball} (it holds ${names})`);
  }
  const manifest = JSON.parse(blob(entry.digest).toString('utf8')) as { layers: Descriptor[] };
  const paths = new Set<string>();
  for (const layer of manifest.layers) {
    for (const e of tarEntries(blob(layer.digest))) if (e.type !== '5') paths.add(e.path);
  }
  return [...paths].sort();
}

/** What may never ship in an image: tests, test support and test doubles. */
const TEST_ARTIFACT = [
  /\.test\.[^/]*$/,
  /(^|\/)test\/support\//,
  /(^|\/)testing\//,
  /(^|\/)fake-[^/]*$/,
  /(^|\/)__tests__\//,
];

/**
 * The test files and test doubles among an image's files. Only Sluice's own code is judged (the
 * app outside node_modules): third-party packages ship what their authors chose.
 */
export function testArtifacts(files: readonly string[]): string[] {
  return files
    .filter((f) => !/(^|\/)node_modules\//.test(f))
    .filter((f) => TEST_ARTIFACT.some((re) => re.test(f)));
}
