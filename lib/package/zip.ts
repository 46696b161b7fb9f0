/**
 * Zip packages (function code and layers): `inspectPackage` validates one by inflating every
 * entry; `extractPackage` applies the same checks while it writes (it never trusts an earlier
 * inspect). Both read the central directory first (entry count, names, kinds, the tree, the
 * declared unzipped total) before any data, then stream each entry through a counter and a CRC-32
 * check; memory stays bounded by zlib's window, never by the unzipped size. The rules are in
 * `rules.ts`, the writing in `disk.ts`; lib/package/README.md lists what is refused and why.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import type { Entry, ZipFile } from 'yauzl';
import { PACKAGE_MAX_ENTRIES, PACKAGE_ZIPPED_LIMIT } from '../../api/limits.js';
import { clearDestination, discardSink, DiskSink, prepareDestination } from './disk.js';
import type { EntrySink } from './disk.js';
import type { EntryPlan } from './rules.js';
import {
  checkSymlinkTarget,
  invalidPackage,
  PackageError,
  PackageTree,
  planEntry,
  unzippedTooLarge,
} from './rules.js';

/** Limits one archive is checked against. */
export interface PackageLimits {
  /** Most unzipped bytes (the sum over files and symlink targets) this archive may hold. */
  maxUnzippedBytes: number;
  /** Most entries; PACKAGE_MAX_ENTRIES (20,000) when absent. */
  maxEntries?: number;
}

export interface ExtractOptions extends PackageLimits {
  /**
   * Layers: `dest` may already hold earlier calls' trees; this archive's files replace theirs
   * (a later layer overrides), never following a symlink they left.
   */
  merge?: boolean;
}

/** What a valid package holds. */
export interface PackageSummary {
  /** `sha256:<64 lowercase hex>` of the zip bytes. */
  digest: string;
  zippedBytes: number;
  /** Bytes actually inflated: file contents plus symlink targets. */
  unzippedBytes: number;
  /** Central-directory entries, directories included. */
  entries: number;
  /** A file or symlink named `bootstrap` at the root (what the provided runtime starts). */
  hasBootstrap: boolean;
}

/** The zip's SHA-256 in the form package references use. */
export function packageDigest(zip: Buffer): string {
  return `sha256:${createHash('sha256').update(zip).digest('hex')}`;
}

/** Validates the whole archive, inflating every entry; throws a PackageError when it is refused. */
export async function inspectPackage(zip: Buffer, opts: PackageLimits): Promise<PackageSummary> {
  return walkPackage(zip, opts, discardSink);
}

/**
 * Unpacks the archive under `dest` (created if missing; it must be empty unless `merge`) with the
 * same checks: directories 0555, files 0444 or 0555 when their unix mode has an execute bit,
 * symlinks only when they stay inside. On refusal (PackageError) or any other failure `dest` is
 * removed if this call created it, else emptied — with merge, earlier layers too.
 */
export async function extractPackage(
  zip: Buffer,
  dest: string,
  opts: ExtractOptions,
): Promise<PackageSummary> {
  checkZippedSize(zip);
  const merge = opts.merge ?? false;
  const destination = await prepareDestination(dest, merge);
  try {
    return await walkPackage(zip, opts, new DiskSink(destination, merge));
  } catch (err) {
    await clearDestination(destination);
    throw err;
  }
}

function checkZippedSize(zip: Buffer): void {
  if (zip.length > PACKAGE_ZIPPED_LIMIT) {
    throw new PackageError(
      'RequestEntityTooLargeException',
      `Zipped size must be at most ${PACKAGE_ZIPPED_LIMIT} bytes; the package has ${zip.length}`,
    );
  }
}

interface Budget {
  used: number;
  readonly limit: number;
}

async function walkPackage(zip: Buffer, opts: PackageLimits, sink: EntrySink): Promise<PackageSummary> {
  checkZippedSize(zip);
  const digest = packageDigest(zip);
  const zipfile = await openZip(zip);
  try {
    const maxEntries = opts.maxEntries ?? PACKAGE_MAX_ENTRIES;
    if (zipfile.entryCount > maxEntries) {
      throw invalidPackage(`has ${zipfile.entryCount} entries, more than the ${maxEntries} allowed`);
    }
    const items = await readCentralDirectory(zipfile, opts.maxUnzippedBytes);
    const budget: Budget = { used: 0, limit: opts.maxUnzippedBytes };
    for (const item of items) await unpackEntry(zipfile, item, budget, sink);
    await sink.finish();
    return {
      digest,
      zippedBytes: zip.length,
      unzippedBytes: budget.used,
      entries: items.length,
      hasBootstrap: items.some(({ plan }) => plan.path === 'bootstrap' && plan.kind !== 'directory'),
    };
  } finally {
    zipfile.close();
  }
}

async function openZip(zip: Buffer): Promise<ZipFile> {
  try {
    return await yauzl.fromBufferPromise(zip, {
      lazyEntries: true,
      strictFileNames: true,
      validateEntrySizes: true,
    });
  } catch (err) {
    throw archiveError(err);
  }
}

interface Item {
  entry: Entry;
  plan: EntryPlan;
}

/** Reads every central-directory record and applies the header and tree rules and the declared-size limit. */
async function readCentralDirectory(zipfile: ZipFile, limit: number): Promise<Item[]> {
  const tree = new PackageTree();
  const items: Item[] = [];
  let declared = 0;
  try {
    for await (const entry of zipfile.eachEntry()) {
      const plan = planEntry(entry);
      tree.add(plan);
      declared += entry.uncompressedSize;
      if (declared > limit) {
        throw unzippedTooLarge(
          limit,
          entry.fileName,
          `declares ${entry.uncompressedSize} bytes, a declared total of ${declared}`,
        );
      }
      items.push({ entry, plan });
    }
  } catch (err) {
    throw archiveError(err);
  }
  return items;
}

/** yauzl's refusals of entry names, to name the entry in ours. */
const NAME_ERROR = /^(invalid relative path|absolute path|invalid characters in fileName): (.*)$/s;

/** Maps an error of yauzl while reading the archive's structure to a PackageError (ours pass through). */
function archiveError(err: unknown): PackageError {
  if (err instanceof PackageError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const name = NAME_ERROR.exec(message);
  if (name !== null) {
    const reason =
      name[1] === 'absolute path'
        ? 'is an absolute path'
        : name[1] === 'invalid relative path'
          ? 'has a ".." path segment'
          : 'has a backslash in its name';
    return invalidPackage(reason, name[2], err);
  }
  return invalidPackage(
    `is not a readable zip file (not a zip, corrupt or truncated: ${message})`,
    undefined,
    err,
  );
}

/** Maps an error while inflating one entry to a PackageError naming it. */
function entryError(err: unknown, name: string): PackageError {
  if (err instanceof PackageError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (message.startsWith('too many bytes'))
    return invalidPackage(`inflates to more than its declared size (${message})`, name, err);
  if (message.startsWith('not enough bytes'))
    return invalidPackage(`inflates to less than its declared size (${message})`, name, err);
  return invalidPackage(`cannot be read: corrupt or truncated (${message})`, name, err);
}

async function openEntry(zipfile: ZipFile, { entry, plan }: Item): Promise<Readable> {
  try {
    const local = await zipfile.readLocalFileHeaderPromise(entry);
    if (!local.fileName.equals(entry.fileNameRaw)) {
      throw invalidPackage('has another name in its local header', plan.name);
    }
    if ((local.generalPurposeBitFlag & 0x41) !== 0) throw invalidPackage('is encrypted', plan.name);
    const stream = await zipfile.openReadStreamPromise(entry);
    // yauzl forwards zlib errors with a bare emit('error'), possibly before the reader's iterator
    // listens or after it let go: destroying with the error records it on the stream (so a later
    // iterator still rejects) and a listener stays (so a late one cannot crash the process).
    stream.on('error', (err) => stream.destroy(err));
    return stream;
  } catch (err) {
    throw entryError(err, plan.name);
  }
}

/** The entry's inflated data, counted against the budget as it flows and CRC-checked at its end. */
async function* measured(stream: Readable, { entry, plan }: Item, budget: Budget): AsyncGenerator<Buffer> {
  let crc = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      budget.used += chunk.length;
      if (budget.used > budget.limit) throw unzippedTooLarge(budget.limit, plan.name, 'inflates past it');
      crc = crc32(chunk, crc);
      yield chunk;
    }
  } catch (err) {
    throw entryError(err, plan.name);
  }
  if (crc !== entry.crc32) throw invalidPackage('fails its CRC-32 check (corrupt)', plan.name);
}

const SYMLINK_TARGET_MAX = 4095;
const utf8 = new TextDecoder('utf-8', { fatal: true });

async function readSymlinkTarget(data: AsyncIterable<Buffer>, name: string): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of data) {
    length += chunk.length;
    if (length > SYMLINK_TARGET_MAX)
      throw invalidPackage(`is a symlink whose target is longer than ${SYMLINK_TARGET_MAX} bytes`, name);
    chunks.push(chunk);
  }
  try {
    return utf8.decode(Buffer.concat(chunks));
  } catch (err) {
    throw invalidPackage('is a symlink whose target is not UTF-8', name, err);
  }
}

async function unpackEntry(zipfile: ZipFile, item: Item, budget: Budget, sink: EntrySink): Promise<void> {
  const { plan } = item;
  const stream = await openEntry(zipfile, item);
  const data = measured(stream, item, budget);
  try {
    switch (plan.kind) {
      case 'directory':
        for await (const _chunk of data) throw invalidPackage('is a directory with content', plan.name);
        if (plan.path !== '') await sink.directory(plan.path, plan.name);
        return;
      case 'file':
        return await sink.file(plan.path, plan.name, plan.executable, data);
      case 'symlink': {
        const target = await readSymlinkTarget(data, plan.name);
        checkSymlinkTarget(plan.path, plan.name, target);
        return await sink.symlink(plan.path, plan.name, target);
      }
    }
  } finally {
    stream.destroy(); // a sink that refused before reading leaves the inflater paused otherwise
  }
}
