/**
 * Zips for the package tests: `buildZip` makes well-formed ones with yazl; `craftZip` writes local
 * headers, data, central directory and end record by hand, so a test can make every field lie
 * (names, sizes, CRC, flags, modes) the way a malicious upload would.
 */
import { once } from 'node:events';
import { crc32, createDeflateRaw, deflateRawSync } from 'node:zlib';
import yazl from 'yazl';

export interface BuildEntry {
  name: string;
  /** File content or symlink target; absent for a directory (name ending in '/'). */
  data?: Buffer | string;
  /** Unix mode including the file type, e.g. 0o100755 or 0o120777 for a symlink. */
  mode?: number;
  compress?: boolean;
}

/** A well-formed zip made by yazl. */
export async function buildZip(entries: BuildEntry[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const e of entries) {
    if (e.name.endsWith('/')) zip.addEmptyDirectory(e.name, e.mode === undefined ? {} : { mode: e.mode });
    else {
      const data = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
      zip.addBuffer(data, e.name, {
        compress: e.compress ?? true,
        ...(e.mode === undefined ? {} : { mode: e.mode }),
      });
    }
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export interface CraftEntry {
  /** The central directory's name (what readers use). */
  name: string;
  /** The local header's name; defaults to `name`. */
  localName?: string;
  /** Uncompressed content (deflated unless method is 0); default empty. */
  content?: Buffer | string;
  /** Already-compressed data, used as is (then give the sizes and CRC you want declared). */
  raw?: Buffer;
  /** 0 stored, 8 deflate (default). */
  method?: number;
  /** Declared values; default the true ones. */
  crc32?: number;
  compressedSize?: number;
  uncompressedSize?: number;
  /** General purpose bit flag (0x1 encrypted, 0x800 UTF-8 names are set by default). */
  flags?: number;
  /** Unix mode with file type (external attributes' high 16 bits); default 0o100644, 0o040755 for names ending in '/'. */
  mode?: number;
}

/** A zip written field by field from the entries (no zip64); `entryCount` overrides the end record's count. */
export function craftZip(entries: CraftEntry[], opts: { entryCount?: number } = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const content = typeof e.content === 'string' ? Buffer.from(e.content) : (e.content ?? Buffer.alloc(0));
    const method = e.method ?? 8;
    const data = e.raw ?? (method === 0 ? content : deflateRawSync(content));
    const crc = e.crc32 ?? crc32(content);
    const compressedSize = e.compressedSize ?? data.length;
    const uncompressedSize = e.uncompressedSize ?? content.length;
    const flags = e.flags ?? 0x800;
    const mode = e.mode ?? (e.name.endsWith('/') ? 0o040755 : 0o100644);
    const name = Buffer.from(e.name);
    const localName = Buffer.from(e.localName ?? e.name);

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(0, 10); // time, date
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(compressedSize, 18);
    local.writeUInt32LE(uncompressedSize, 22);
    local.writeUInt16LE(localName.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, localName, data);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by unix, spec 2.0
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(0, 12);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(compressedSize, 20);
    central.writeUInt32LE(uncompressedSize, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(0, 30); // extra
    central.writeUInt16LE(0, 32); // comment
    central.writeUInt16LE(0, 34); // disk
    central.writeUInt16LE(0, 36); // internal attributes
    central.writeUInt32LE(((mode << 16) | (e.name.endsWith('/') ? 0x10 : 0)) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);

    offset += local.length + localName.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  const count = opts.entryCount ?? entries.length;
  end.writeUInt16LE(count, 8);
  end.writeUInt16LE(count, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** `bytes` zeros deflated (raw), made in 1 MiB steps so the test never holds the inflated size. */
export async function deflatedZeros(bytes: number): Promise<Buffer> {
  const deflate = createDeflateRaw({ level: 9 });
  const chunks: Buffer[] = [];
  deflate.on('data', (c: Buffer) => chunks.push(c));
  const step = Buffer.alloc(1024 * 1024);
  for (let left = bytes; left > 0; left -= step.length) {
    if (!deflate.write(left >= step.length ? step : step.subarray(0, left))) await once(deflate, 'drain');
  }
  deflate.end();
  await once(deflate, 'end');
  return Buffer.concat(chunks);
}
