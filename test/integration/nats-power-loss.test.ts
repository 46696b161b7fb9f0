/**
 * Power loss under JetStream: why Sluice's nats-server must run with `sync_interval: always`.
 *
 * A JetStream publish ack (what the gateway's 202 for an async invoke waits for) means the
 * message was written to the stream's file, not that it is on the disk: with JetStream's default
 * `sync_interval` (2 minutes) the data sits in the page cache until the next periodic fsync, and a
 * power cut loses it. A kill -9 alone doesn't show that (the kernel still writes the page cache
 * back), and neither does a tmpfs or an unmount (an unmount flushes). So the disk is simulated by a
 * layer that we control: test/support/volatile-fs.py, a FUSE filesystem (Debian's python3-fusepy
 * over libfuse2, installed by test/cluster/deps.sh) that keeps written data in its own memory until
 * the file is fsynced and passes metadata through to a backing directory at once. Killing it is the
 * power cut: the backing directory keeps exactly what was fsynced (fsync, fdatasync, or a write
 * through a file opened O_SYNC, as nats-server writes its meta files when syncing always). FUSE
 * was chosen because the kernel has it (/dev/fuse, `fuse` in /proc/filesystems) while it has no
 * device-mapper (`dmsetup targets` fails: no dm-flakey) nor modules to load, and a loop device or a
 * tmpfs would still have the kernel's page cache between nats-server and the "disk". The test
 * fails, never skips, when the layer can't be set up (ensureVolatileDiskDeps installs
 * python3-fusepy through test/cluster/deps.sh when missing); a first case proves the layer itself.
 *
 * Each case: nats-server with store_dir on the volatile disk; a file-backed stream is created and
 * written back (the kernel writes dirty pages back within ~30 s: a stream made long before the cut
 * is on disk); N messages are published, each awaiting its ack; then nats-server is SIGKILLed and
 * the FUSE process too (the power cut); nats-server starts again on the backing directory (what
 * the disk kept) and the stream's messages are counted.
 *   - default sync_interval: messages acked > messages present (acknowledged messages lost);
 *     with a writeback halfway, exactly the acks after it are lost;
 *   - sync_interval: always: every acknowledged message present;
 *   - and, as a control, default sync_interval with a process crash only (kill -9, then the
 *     page cache written back): every acknowledged message present, so the loss above comes
 *     from the missing fsync, not from the kill (a single-replica stream writes each message to
 *     its block file before the ack; only the fsync waits for sync_interval).
 * Measured with nats-server 2.12, N = 1000 (100-byte payloads): default 1000 acked, 0 present (the
 * 137,000 bytes of msgs/1.blk never reached the disk), and 500 present when the page cache was
 * written back after the 500th ack (recovery keeps the durable prefix, seq 1-500); always 1000
 * acked, 1000 present; control 1000/1000; about 1.5 s in all. The numbers are printed:
 * `make power-loss`, or
 * `npx vitest run --config test/vitest.integration.config.ts test/integration/nats-power-loss.test.ts`.
 * The layer models the worst case, no writeback between the stream's creation and the cut; a real
 * machine's kernel writes dirty pages back after ~30 s, so there the loss is the acks of the last
 * ~30 s (and whatever a disk's volatile write cache held), not all of them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  constants,
  fsyncSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/net.js';
import { budget } from '../support/time.js';
import { ensureVolatileDiskDeps, VolatileDisk } from '../support/volatile-disk.js';
import { natsServerBinary } from './support/nats.js';

const N = 1000;
const WINDOW = 50; // publishes in flight at once
const STREAM = 'POWER';

type Sync = 'default' | 'always';

/** A plain JetStream nats-server (no auth: what is tested is its file store) on `storeDir`. */
async function startNats(storeDir: string, port: number, sync: Sync, dir: string): Promise<ChildProcess> {
  const conf = path.join(dir, `nats-${sync}.conf`);
  writeFileSync(
    conf,
    [
      `listen: "127.0.0.1:${port}"`,
      `jetstream {`,
      `  store_dir: "${storeDir}"`,
      ...(sync === 'always' ? ['  sync_interval: always'] : []),
      `}`,
    ].join('\n'),
  );
  const child = spawn(natsServerBinary(), ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`nats-server not ready:\n${log.join('')}`)),
      budget(20_000),
    );
    const onData = (b: Buffer): void => {
      log.push(b.toString('utf8'));
      if (log.join('').includes('Server is ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited (${code}):\n${log.join('')}`));
    });
  });
  return child;
}

async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

interface Outcome {
  acked: number;
  present: number;
  lastSeq: number;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function mountDisk(): Promise<{ disk: VolatileDisk; dir: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-power-loss-'));
  cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
  const disk = new VolatileDisk(dir);
  await disk.mount();
  cleanups.push(() => disk.unmount());
  return { disk, dir };
}

/**
 * One run: publish N with acks on the volatile disk, crash, count what the backing kept.
 * `writebackAt`: the page cache is also written back once that many messages are acked.
 */
async function crashRun(
  sync: Sync,
  crash: 'power-cut' | 'process-only',
  writebackAt?: number,
): Promise<Outcome> {
  const { disk, dir } = await mountDisk();
  const port = await freePort();

  const before = await startNats(path.join(disk.mountpoint, 'js'), port, sync, dir);
  cleanups.push(() => kill9(before));
  const nc = await connect({ servers: `127.0.0.1:${port}`, maxReconnectAttempts: 0 });
  cleanups.push(() => nc.close());
  await (
    await jetstreamManager(nc)
  ).streams.add({ name: STREAM, subjects: ['power.>'], storage: StorageType.File });
  disk.writeback();

  const js = jetstream(nc);
  const payload = new TextEncoder().encode('x'.repeat(100));
  let acked = 0;
  for (let i = 0; i < N; i += WINDOW) {
    const acks = await Promise.all(
      Array.from({ length: Math.min(WINDOW, N - i) }, (_, j) => js.publish(`power.${i + j}`, payload)),
    );
    acked += acks.filter((a) => a.stream === STREAM && !a.duplicate).length;
    if (acked === writebackAt) disk.writeback();
  }
  await nc.close();

  await kill9(before);
  if (crash === 'process-only') disk.writeback(); // the machine stays up: its page cache reaches the disk
  await disk.powerCut();

  const after = await startNats(path.join(disk.backing, 'js'), port, sync, dir);
  cleanups.push(() => kill9(after));
  const nc2 = await connect({ servers: `127.0.0.1:${port}`, maxReconnectAttempts: 0 });
  cleanups.push(() => nc2.close());
  const { state } = await (await jetstreamManager(nc2)).streams.info(STREAM);
  const outcome = { acked, present: state.messages, lastSeq: state.last_seq };
  const wb = writebackAt === undefined ? '' : `, written back at ${writebackAt}`;
  console.log(`power-loss: sync_interval ${sync}, ${crash}${wb}: acked ${acked}, present ${outcome.present}`);
  return outcome;
}

describe('JetStream under a simulated power cut (FUSE layer that drops data not fsynced)', () => {
  beforeAll(() => ensureVolatileDiskDeps());

  it('the volatile disk keeps what was fsynced or written with O_SYNC, and loses the rest', async () => {
    const { disk } = await mountDisk();
    const on = (f: string): string => path.join(disk.mountpoint, f);
    const kept = (f: string): string => readFileSync(path.join(disk.backing, f), 'utf8');
    let fd = openSync(on('a'), 'w');
    writeSync(fd, 'synced');
    fsyncSync(fd);
    writeSync(fd, '+lost');
    closeSync(fd);
    fd = openSync(on('b'), constants.O_WRONLY | constants.O_CREAT | constants.O_SYNC);
    writeSync(fd, 'o_sync');
    closeSync(fd);
    writeFileSync(on('c'), 'lost');
    expect(readFileSync(on('a'), 'utf8')).toBe('synced+lost');
    expect(kept('a')).toBe('synced');
    await disk.powerCut();
    expect([kept('a'), kept('b'), kept('c')]).toEqual(['synced', 'o_sync', '']);
  });

  it('default sync_interval (2 min): acknowledged messages are lost', async () => {
    const o = await crashRun('default', 'power-cut');
    expect(o.acked).toBe(N);
    expect(o.present).toBeLessThan(o.acked);
  });

  it('default sync_interval: what the kernel wrote back survives, the acks after it are lost', async () => {
    const o = await crashRun('default', 'power-cut', N / 2);
    expect(o.acked).toBe(N);
    expect([o.present, o.lastSeq]).toEqual([N / 2, N / 2]);
  });

  it('sync_interval: always: every acknowledged message survives', async () => {
    const o = await crashRun('always', 'power-cut');
    expect(o.acked).toBe(N);
    expect(o.present).toBe(o.acked);
    expect(o.lastSeq).toBe(N);
  });

  it('control: default sync_interval, process crash only (page cache written back): nothing lost', async () => {
    const o = await crashRun('default', 'process-only');
    expect(o.acked).toBe(N);
    expect(o.present).toBe(o.acked);
  });
});
