import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/**
 * Reads of Linux `/proc` used to watch a function's process: its memory (peak and current RSS),
 * whether it is alive, when it started, and which process holds a loopback connection (to find a
 * custom runtime's process in another container of the pod, which shares the PID namespace).
 * Every read returns undefined instead of throwing when the information is not available.
 */

function statusField(pid: number, field: string): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Peak resident set size in bytes (VmHWM). */
export function peakRssBytes(pid: number): number | undefined {
  return statusField(pid, 'VmHWM');
}

/** Current resident set size in bytes (VmRSS). */
export function rssBytes(pid: number): number | undefined {
  return statusField(pid, 'VmRSS');
}

/** True while the process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

const CLOCK_TICKS = 100;

/** Wall-clock start time of a process in epoch milliseconds (10 ms resolution). */
export function processStartMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTicks = Number(fields[19]);
    const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    if (!btime || !Number.isFinite(startTicks)) return undefined;
    return Number(btime[1]) * 1000 + (startTicks * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

function socketInode(localPort: number): string | undefined {
  const hexPort = localPort.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && cols[1]?.endsWith(`:${hexPort}`) && cols[9] !== '0') return cols[9];
    }
  }
  return undefined;
}

/**
 * The process that owns the local end of a TCP connection on loopback whose port is `port` (the
 * remote port as this server sees it), or undefined when it cannot be found (another user's
 * process, no shared PID namespace, or it has gone).
 */
export function findSocketOwner(port: number, self: number = process.pid): number | undefined {
  const inode = socketInode(port);
  if (!inode) return undefined;
  const target = `socket:[${inode}]`;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const p of pids) {
    const pid = Number(p);
    if (pid === self) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${p}/fd/${fd}`) === target) return pid;
      } catch {
        // the descriptor closed while scanning
      }
    }
  }
  return undefined;
}
