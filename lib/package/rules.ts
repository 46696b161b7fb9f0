/**
 * The pure rules a zip package must follow (no I/O): the typed refusal, entry names, entry kinds,
 * symlink targets and the shape of the tree. `zip.ts` reads the archive and applies them; the
 * tests exercise them by tables.
 */
import { SluiceError } from '../errors.js';

/** The Lambda error codes a package refusal answers with. */
export type PackageErrorCode = 'InvalidParameterValueException' | 'RequestEntityTooLargeException';

/**
 * A zip package was refused. `code` and `status` are what the management API answers (Lambda's
 * codes); `entry` names the entry at fault when there is one (it is also in the message).
 */
export class PackageError extends SluiceError {
  override readonly name = 'PackageError';
  readonly code: PackageErrorCode;
  readonly status: 400 | 413;
  readonly entry: string | undefined;

  constructor(code: PackageErrorCode, message: string, options?: { entry?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = code === 'RequestEntityTooLargeException' ? 413 : 400;
    this.entry = options?.entry;
  }
}

/** An `InvalidParameterValueException` about the archive, or about one entry when `entry` is given. */
export function invalidPackage(reason: string, entry?: string, cause?: unknown): PackageError {
  const message =
    entry === undefined
      ? `Invalid zip package: ${reason}`
      : `Invalid zip package: entry ${JSON.stringify(entry)} ${reason}`;
  return new PackageError('InvalidParameterValueException', message, { entry, cause });
}

/** Lambda's message for a package (plus layers) whose unzipped size is over the limit. */
export function unzippedTooLarge(limit: number, entry: string, detail: string): PackageError {
  return new PackageError(
    'InvalidParameterValueException',
    `Unzipped size must be smaller than ${limit} bytes (entry ${JSON.stringify(entry)} ${detail})`,
    { entry },
  );
}

/** What an entry becomes on disk. */
export type EntryKind = 'directory' | 'file' | 'symlink';

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
/** Linux NAME_MAX and PATH_MAX (less the terminating NUL). */
const NAME_MAX = 255;
const PATH_MAX = 4095;

/** The central-directory fields the rules look at (a subset of yauzl's Entry). */
export interface EntryHeader {
  fileName: string;
  generalPurposeBitFlag: number;
  compressionMethod: number;
  externalFileAttributes: number;
}

/** An entry that passed the header rules: where it goes and what it is. */
export interface EntryPlan {
  /** The name as stored in the archive (for messages). */
  name: string;
  /** The normalized relative path ('' for the root itself), '/'-separated, no '.', '..' or empty segments. */
  path: string;
  kind: EntryKind;
  /** A file whose unix mode has an execute bit: unpacked 0555 instead of 0444. */
  executable: boolean;
}

/**
 * Normalizes an entry name that yauzl's strict checks already passed (no backslash, not absolute,
 * no '..' segment — checked again here, so the rule holds on its own): drops '.' and empty
 * segments, refuses NUL and names longer than Linux allows.
 */
export function normalizeEntryName(name: string): string {
  if (name.includes('\0')) throw invalidPackage('has a NUL character in its name', name);
  if (name.includes('\\')) throw invalidPackage('has a backslash in its name', name);
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) throw invalidPackage('is an absolute path', name);
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw invalidPackage('has a ".." path segment', name);
  if (segments.some((s) => Buffer.byteLength(s) > NAME_MAX)) {
    throw invalidPackage(`has a path segment longer than ${NAME_MAX} bytes`, name);
  }
  const path = segments.join('/');
  if (Buffer.byteLength(path) > PATH_MAX) throw invalidPackage(`is longer than ${PATH_MAX} bytes`, name);
  return path;
}

/**
 * Checks an entry's central-directory header and says what it becomes: refuses encryption,
 * compression other than stored/deflate, special files (devices, FIFOs, sockets) and entries whose
 * unix file type contradicts their name. A name ending in '/' is a directory; otherwise the unix
 * mode (high 16 bits of the external attributes) says symlink, or it is a regular file.
 */
export function planEntry(header: EntryHeader): EntryPlan {
  const name = header.fileName;
  if ((header.generalPurposeBitFlag & 0x41) !== 0) throw invalidPackage('is encrypted', name);
  if (header.compressionMethod !== 0 && header.compressionMethod !== 8) {
    throw invalidPackage(
      `uses compression method ${header.compressionMethod} (only stored and deflate are supported)`,
      name,
    );
  }
  const path = normalizeEntryName(name);
  const mode = header.externalFileAttributes >>> 16;
  const type = mode & S_IFMT;
  if (name.endsWith('/')) {
    if (type !== 0 && type !== S_IFDIR)
      throw invalidPackage('ends with "/" but its unix mode is not a directory', name);
    return { name, path, kind: 'directory', executable: false };
  }
  if (path === '') throw invalidPackage('has an empty name', name);
  if (type === S_IFDIR) throw invalidPackage('is a directory without a trailing "/"', name);
  if (type === S_IFLNK) return { name, path, kind: 'symlink', executable: false };
  if (type !== 0 && type !== S_IFREG)
    throw invalidPackage('is a special file (device, FIFO or socket)', name);
  return { name, path, kind: 'file', executable: (mode & 0o111) !== 0 };
}

/**
 * Checks a symlink's target. It must be relative, and of the form `../`*k followed by names only
 * (`.` and empty segments are ignored), with k at most the depth of the link's directory. Nothing
 * in a package is ever written under a symlink and no directory is ever replaced by one, so the
 * link's directory is a real directory and the `..` steps climb real directories; the names after
 * them descend, through symlinks that obey the same rule. A `..` after a name is refused: if that
 * name were a symlink, the kernel would climb from its target, not from where the name looks to be.
 */
export function checkSymlinkTarget(linkPath: string, linkName: string, target: string): void {
  const refuse = (why: string): PackageError =>
    invalidPackage(`is a symlink to ${JSON.stringify(target)}, ${why}`, linkName);
  if (target === '') throw invalidPackage('is a symlink with an empty target', linkName);
  if (target.includes('\0')) throw refuse('which has a NUL character');
  if (Buffer.byteLength(target) > PATH_MAX) throw refuse(`which is longer than ${PATH_MAX} bytes`);
  if (target.includes('\\')) throw refuse('which has a backslash');
  if (target.startsWith('/') || /^[a-zA-Z]:/.test(target)) throw refuse('which is absolute');
  const segments = target.split('/').filter((s) => s !== '' && s !== '.');
  const ups = segments.findIndex((s) => s !== '..');
  const climbs = ups === -1 ? segments.length : ups;
  if (segments.slice(climbs).includes('..')) throw refuse('which has ".." after a name');
  const depth = linkPath.split('/').length - 1;
  if (climbs > depth) throw refuse('which leaves the package');
}

type Node = 'implicit-directory' | EntryKind;

/**
 * The tree of one archive's entries, built as they are read: refuses duplicate paths, an entry
 * inside a file or symlink, and a file or symlink where a directory already is. Directories that
 * only appear as parents are implicit; one explicit entry for each is allowed.
 */
export class PackageTree {
  private readonly nodes = new Map<string, Node>();

  /** Adds an entry, or throws the PackageError that refuses it. */
  add(plan: EntryPlan): void {
    if (plan.path === '') return; // './' or similar: the root itself
    const segments = plan.path.split('/');
    for (let i = 1; i < segments.length; i++) {
      const parent = segments.slice(0, i).join('/');
      const node = this.nodes.get(parent);
      if (node === 'file' || node === 'symlink') {
        throw invalidPackage(`is inside ${JSON.stringify(parent)}, which is a ${node}`, plan.name);
      }
      if (node === undefined) this.nodes.set(parent, 'implicit-directory');
    }
    const existing = this.nodes.get(plan.path);
    if (existing === 'implicit-directory' && plan.kind === 'directory') {
      this.nodes.set(plan.path, 'directory');
      return;
    }
    if (existing === 'implicit-directory')
      throw invalidPackage(`is a ${plan.kind} where other entries make a directory`, plan.name);
    if (existing !== undefined) throw invalidPackage('is a duplicate name', plan.name);
    this.nodes.set(plan.path, plan.kind);
  }
}
