/**
 * Writing a package's entries under a destination directory without ever following or replacing
 * anything outside it: parents are checked with lstat and created one by one, files are opened
 * O_CREAT|O_EXCL|O_NOFOLLOW, and with `merge` (layers) a file from an earlier call is unlinked
 * before the new one is created, so a symlink planted there is replaced, never followed.
 */
import { constants } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, rm, symlink, unlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { SluiceError } from '../errors.js';
import { invalidPackage } from './rules.js';

/** The destination of an extraction is unusable (not a directory, a symlink, or not empty). */
export class PackageDestinationError extends SluiceError {
  override readonly name = 'PackageDestinationError';
}

/** Where `zip.ts` sends each entry once its header and data passed the rules. */
export interface EntrySink {
  directory(path: string, name: string): Promise<void>;
  file(path: string, name: string, executable: boolean, data: AsyncIterable<Buffer>): Promise<void>;
  symlink(path: string, name: string, target: string): Promise<void>;
  /** Called once every entry is in place. */
  finish(): Promise<void>;
}

/** The sink of `inspectPackage`: reads every file's data to the end (the checks run as it flows), keeps nothing. */
export const discardSink: EntrySink = {
  directory: () => Promise.resolve(),
  async file(_path, _name, _executable, data) {
    for await (const _chunk of data) {
      // the data is checked (size, CRC) as it is read; nothing is kept
    }
  },
  symlink: () => Promise.resolve(),
  finish: () => Promise.resolve(),
};

const DIRECTORY_MODE = 0o555;
const FILE_MODE = 0o444;
const EXECUTABLE_MODE = 0o555;
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

const describe = (st: Stats): string =>
  st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : 'file';

/** The destination as found before an extraction, to write into it and to put it back on refusal. */
export interface Destination {
  root: string;
  /** This call created the directory (it is removed on refusal). */
  created: boolean;
  /** Its permission bits before this call. */
  mode: number;
}

/**
 * Creates `dest` (and missing parents) or checks the existing one: it must be a real directory
 * (not a symlink), and empty unless `merge`.
 */
export async function prepareDestination(dest: string, merge: boolean): Promise<Destination> {
  const st = await lstatOrNull(dest);
  if (st === null) {
    await mkdir(dest, { recursive: true, mode: 0o700 });
    return { root: dest, created: true, mode: DIRECTORY_MODE };
  }
  if (!st.isDirectory()) throw new PackageDestinationError(`${dest} is a ${describe(st)}, not a directory`);
  if (!merge && (await readdir(dest)).length > 0) {
    throw new PackageDestinationError(
      `${dest} is not empty (extract into an empty or missing directory, or pass merge for layers)`,
    );
  }
  return { root: dest, created: false, mode: st.mode & 0o7777 };
}

/**
 * chmod only when the mode differs: a destination this process does not own (a volume's mount
 * point, e.g. an emptyDir owned by root and open to all) may not be chmod-ed even to its own mode.
 */
async function setMode(path: string, mode: number): Promise<void> {
  const st = await lstat(path);
  if ((st.mode & 0o7777) !== mode) await chmod(path, mode);
}

/** Makes every directory under `dir` (not following symlinks) writable, so it can be emptied. */
async function makeWritable(dir: string): Promise<void> {
  const st = await lstat(dir);
  if ((st.mode & 0o700) !== 0o700) await chmod(dir, 0o700 | (st.mode & 0o7777));
  for (const dirent of await readdir(dir, { withFileTypes: true })) {
    if (dirent.isDirectory()) await makeWritable(join(dir, dirent.name));
  }
}

/**
 * Undoes a refused extraction: removes the destination if the call created it, else empties it
 * and puts its mode back. With merge this also removes earlier layers: a tree with half a layer in
 * it must not be used.
 */
export async function clearDestination(dest: Destination): Promise<void> {
  if ((await lstatOrNull(dest.root)) === null) return;
  await makeWritable(dest.root);
  if (dest.created) {
    await rm(dest.root, { recursive: true, force: true });
    return;
  }
  for (const name of await readdir(dest.root))
    await rm(join(dest.root, name), { recursive: true, force: true });
  await setMode(dest.root, dest.mode);
}

/** Writes entries under `dest.root`; directories are made writable while it works and 0555 at `finish`. */
export class DiskSink implements EntrySink {
  /** Relative directories known to be real directories, writable for the rest of this call. */
  private readonly ready = new Set<string>();
  /** Directory → the mode it gets at `finish`. */
  private readonly finalModes = new Map<string, number>();

  constructor(
    private readonly dest: Destination,
    private readonly merge: boolean,
  ) {}

  async directory(path: string, name: string): Promise<void> {
    await this.ensureDirectory(path, name);
  }

  async file(path: string, name: string, executable: boolean, data: AsyncIterable<Buffer>): Promise<void> {
    const full = await this.place(path, name);
    const handle = await open(full, CREATE_FLAGS, 0o600);
    try {
      for await (const chunk of data) {
        for (let offset = 0; offset < chunk.length; ) {
          offset += (await handle.write(chunk, offset)).bytesWritten;
        }
      }
      await handle.chmod(executable ? EXECUTABLE_MODE : FILE_MODE);
    } finally {
      await handle.close();
    }
  }

  async symlink(path: string, name: string, target: string): Promise<void> {
    await symlink(target, await this.place(path, name));
  }

  async finish(): Promise<void> {
    for (const [full, mode] of this.finalModes) await setMode(full, mode);
  }

  /**
   * Makes sure `path`'s parent is a real directory and nothing is at `path`: with merge, a file or
   * symlink an earlier layer put there is unlinked (never followed); a directory there is refused.
   */
  private async place(path: string, name: string): Promise<string> {
    await this.ensureDirectory(dirname(path) === '.' ? '' : dirname(path), name);
    const full = join(this.dest.root, path);
    const st = await lstatOrNull(full);
    if (st === null) return full;
    if (st.isDirectory()) throw invalidPackage('is a file where an earlier layer made a directory', name);
    if (!this.merge) throw invalidPackage(`would replace an existing ${describe(st)}`, name);
    await unlink(full);
    return full;
  }

  /** Creates `path` (relative, '' for the root) and its parents, each checked with lstat to be a real directory. */
  private async ensureDirectory(path: string, name: string): Promise<void> {
    if (this.ready.has(path)) return;
    if (path !== '') await this.ensureDirectory(dirname(path) === '.' ? '' : dirname(path), name);
    const full = path === '' ? this.dest.root : join(this.dest.root, path);
    const st = await lstatOrNull(full);
    if (st === null) {
      await mkdir(full, { mode: 0o700 });
    } else if (!st.isDirectory()) {
      throw invalidPackage(
        `would be written through ${JSON.stringify(path)}, which an earlier layer made a ${describe(st)}`,
        name,
      );
    } else if ((st.mode & 0o700) !== 0o700) {
      await chmod(full, 0o700 | (st.mode & 0o7777));
    }
    const keep = path === '' && !this.dest.created;
    this.finalModes.set(full, keep ? this.dest.mode : DIRECTORY_MODE);
    this.ready.add(path);
  }
}
