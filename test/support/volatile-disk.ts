import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { until } from './time.js';

/**
 * A disk that loses what was not fsynced when the power goes: test/support/volatile-fs.py (a FUSE
 * filesystem; see its header) mounted over a backing directory. Written data stays in the FUSE
 * process's memory until the file is fsynced; `powerCut()` SIGKILLs that process and detaches the
 * mount, leaving in `backing` exactly what an fsync had made durable. `writeback()` writes every
 * file back, as the kernel eventually does with dirty pages.
 *
 * Needs /dev/fuse, root (the mount(2) call) and Debian's python3-fusepy: `ensureVolatileDiskDeps()`
 * installs the package through test/cluster/deps.sh when it is missing, and throws (never skips)
 * when the layer still can't be had.
 */
const PYTHON = '/usr/bin/python3'; // Debian's, where apt puts fusepy (not a pyenv or venv python)
const SCRIPT = path.join(path.dirname(new URL(import.meta.url).pathname), 'volatile-fs.py');
const DEPS = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'cluster', 'deps.sh');

function fusepyImports(): boolean {
  return spawnSync(PYTHON, ['-c', 'import fusepy'], { stdio: 'ignore' }).status === 0;
}

export function ensureVolatileDiskDeps(): void {
  if (!existsSync(PYTHON) || !fusepyImports()) {
    execFileSync('bash', [DEPS], { stdio: ['ignore', 'inherit', 'inherit'] });
  }
  if (!fusepyImports())
    throw new Error(`${PYTHON} can't import fusepy after test/cluster/deps.sh (python3-fusepy)`);
  if (!existsSync('/dev/fuse')) throw new Error('/dev/fuse is missing: the kernel has no FUSE device');
  if (process.getuid?.() !== 0) throw new Error('the volatile disk mounts FUSE directly: run as root');
}

function mounted(mountpoint: string): boolean {
  // /proc/self/mountinfo: field 5 is the mount point (octal escapes for spaces, none in ours).
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === mountpoint);
}

export class VolatileDisk {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly log: string[] = [];
  readonly backing: string;
  readonly mountpoint: string;

  /** `dir/backing` (what survives) mounted at `dir/mnt` (what processes use). */
  constructor(dir: string) {
    this.backing = path.join(dir, 'backing');
    this.mountpoint = path.join(dir, 'mnt');
    mkdirSync(this.backing, { recursive: true });
    mkdirSync(this.mountpoint, { recursive: true });
    this.mountpoint = realpathSync(this.mountpoint);
  }

  async mount(): Promise<void> {
    const child = spawn(PYTHON, [SCRIPT, this.backing, this.mountpoint], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((r) => child.once('exit', () => r()));
    const onData = (b: Buffer): void => void this.log.push(b.toString('utf8'));
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    await until(
      () => {
        if (child.exitCode !== null)
          throw new Error(`volatile-fs.py exited (${child.exitCode}): ${this.log.join('')}`);
        return mounted(this.mountpoint);
      },
      () => `volatile-fs.py mounted at ${this.mountpoint}: ${this.log.join('')}`,
      10_000,
    );
  }

  /** Writes every file's data back to the backing directory (the kernel's periodic writeback). */
  writeback(): void {
    closeSync(openSync(path.join(this.mountpoint, '.writeback'), 'r'));
  }

  /** The power goes: the page cache (the FUSE process's memory) is lost; the mount is detached. */
  async powerCut(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
    this.child = undefined;
    this.detach();
  }

  /** Clean unmount (data not yet fsynced is still lost: the FUSE process doesn't write back). */
  async unmount(): Promise<void> {
    if (this.child) await this.powerCut();
    else this.detach();
  }

  private detach(): void {
    if (mounted(this.mountpoint)) execFileSync('umount', ['-l', this.mountpoint]);
  }
}
