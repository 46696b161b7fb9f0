/**
 * NATS JetStream for the examples `make up` deploys (test/examples.sh), without a nats CLI:
 *
 *   npx tsx test/examples-nats.ts streams                    create or update the examples' streams
 *   npx tsx test/examples-nats.ts publish SUBJECT JSON...    publish messages (one per argument)
 *   npx tsx test/examples-nats.ts read STREAM [N]            the last N (10) messages, one JSON a line
 *   npx tsx test/examples-nats.ts delete-streams             delete the examples' streams (make down)
 *
 * The server is the chart's (Service sluice-nats in sluice-system, or SLUICE_NAMESPACE): on the
 * local cluster through a loopback forward (test/cluster/forward.sh), on another cluster through
 * `kubectl port-forward`, or wherever SLUICE_NATS_URL points. It connects as the examples'
 * namespace (sluice-examples, or SLUICE_EXAMPLES_NAMESPACE) with that namespace's own creds —
 * Secret sluice-nats, which the controller writes (the annotation sluice.dev/nats-credentials asks
 * for it before the first mapping) — not as an administrator: the streams are the namespace's.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { ROOT } from '../api/paths.js';

const DAY_NS = 86_400 * 1e9;

/**
 * The streams the examples need. A `nats:` destination is a JetStream publish, so a stream must
 * capture its subject; a `natsQueue` mapping reads a stream.
 */
export const EXAMPLE_STREAMS: (Partial<StreamConfig> & { name: string; subjects: string[] })[] = [
  // queue-mapping.yaml: the work queue order-worker reads (a message is removed once acked, like SQS).
  { name: 'ORDERS', subjects: ['orders.created'], retention: RetentionPolicy.Workqueue },
  // async-destinations.yaml: onFailure of the orders function (Lambda invocation records).
  { name: 'ORDERS_FAILED', subjects: ['orders.failed'], max_msgs: 10_000, max_age: 7 * DAY_NS },
  // queue-mapping.yaml: onFailure of the order-worker-queue mapping (records out of retries).
  { name: 'ORDERS_DLQ', subjects: ['orders.dlq'], max_msgs: 10_000, max_age: 7 * DAY_NS },
];

const kubectlBin = (): string => process.env.KUBECTL ?? 'kubectl';

/**
 * The examples namespace's NATS creds (Secret sluice-nats): asks for them with the annotation and
 * waits (up to `timeoutMs`) for the controller to write them.
 */
export async function examplesCreds(timeoutMs = 90_000): Promise<string> {
  const ns = process.env.SLUICE_EXAMPLES_NAMESPACE ?? 'sluice-examples';
  execFileSync(
    kubectlBin(),
    ['annotate', 'namespace', ns, 'sluice.dev/nats-credentials=true', '--overwrite'],
    {
      stdio: 'ignore',
    },
  );
  const end = Date.now() + timeoutMs;
  for (;;) {
    let b64 = '';
    try {
      b64 = execFileSync(
        kubectlBin(),
        ['-n', ns, 'get', 'secret', 'sluice-nats', '-o', 'jsonpath={.data.creds}'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      ).trim();
    } catch {
      b64 = '';
    }
    if (b64) return Buffer.from(b64, 'base64').toString('utf8');
    if (Date.now() > end) {
      throw new Error(
        `no Secret ${ns}/sluice-nats after ${timeoutMs / 1000} s: is sluice-controller running?`,
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** A connection to the chart's NATS from the host, and how to close it (and its forward). */
export async function connectNats(
  creds?: string,
): Promise<{ nc: NatsConnection; close: () => Promise<void> }> {
  const ns = process.env.SLUICE_NAMESPACE ?? 'sluice-system';
  const auth = creds ?? (await examplesCreds());
  let server = process.env.SLUICE_NATS_URL;
  let stopForward = (): void => undefined;
  if (!server && existsSync(join(ROOT, '.cluster/env')) && !process.env.SLUICE_EXTERNAL_CLUSTER) {
    const name = `examples-nats-${process.pid}`;
    const forward = join(ROOT, 'test/cluster/forward.sh');
    server = execFileSync(forward, [name, '0', `svc/${ns}/sluice-nats:4222`], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .pop();
    stopForward = () => void execFileSync(forward, ['--stop', name], { stdio: 'ignore' });
  } else if (!server) {
    const pf = await portForward(ns);
    server = pf.server;
    stopForward = pf.stop;
  }
  try {
    const nc = await connect({
      servers: (server ?? '').replace(/^(nats|http):\/\//, ''),
      ignoreClusterUpdates: true, // the advertised cluster addresses are not reachable from here
      timeout: 10_000,
      authenticator: credsAuthenticator(new TextEncoder().encode(auth)),
    });
    return {
      nc,
      close: async () => {
        await nc.close();
        stopForward();
      },
    };
  } catch (err) {
    stopForward();
    throw err;
  }
}

/** `kubectl port-forward` to the NATS Service of a cluster that is not the local one. */
async function portForward(ns: string): Promise<{ server: string; stop: () => void }> {
  const child = spawn(kubectlBin(), ['-n', ns, 'port-forward', 'svc/sluice-nats', ':4222'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const server = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`kubectl port-forward: no port after 15 s: ${out}`)),
      15_000,
    );
    const read = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(`127.0.0.1:${m[1]}`);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('exit', (code) => reject(new Error(`kubectl port-forward exited (${code}): ${out}`)));
  });
  return { server, stop: () => void child.kill() };
}

/** Creates each stream, or updates it to this configuration when it exists (idempotent). */
export async function ensureStreams(jsm: JetStreamManager): Promise<string[]> {
  const out: string[] = [];
  for (const cfg of EXAMPLE_STREAMS) {
    const exists = await jsm.streams.info(cfg.name).then(
      () => true,
      () => false,
    );
    if (exists) await jsm.streams.update(cfg.name, cfg);
    else await jsm.streams.add(cfg);
    out.push(`${cfg.name} (${cfg.subjects.join(', ')}): ${exists ? 'exists' : 'created'}`);
  }
  return out;
}

/** Deletes the examples' streams (those missing are skipped); a line per stream. */
export async function deleteStreams(jsm: JetStreamManager): Promise<string[]> {
  const out: string[] = [];
  for (const cfg of EXAMPLE_STREAMS) {
    const deleted = await jsm.streams.delete(cfg.name).catch(() => false);
    out.push(`${cfg.name}: ${deleted ? 'deleted' : 'not there'}`);
  }
  return out;
}

/** The last `n` messages of a stream (oldest first), decoded as JSON when they are JSON. */
export async function lastMessages(
  jsm: JetStreamManager,
  stream: string,
  n: number,
): Promise<{ seq: number; subject: string; time: string; data: unknown }[]> {
  const { state } = await jsm.streams.info(stream);
  const out = [];
  for (let seq = Math.max(state.first_seq, state.last_seq - n + 1); seq <= state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (!m) continue; // deleted (a work queue removes what was acked)
    let data: unknown = m.string();
    try {
      data = m.json();
    } catch {
      /* not JSON */
    }
    out.push({ seq: m.seq, subject: m.subject, time: m.time.toISOString(), data });
  }
  return out;
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...args] = argv;
  const usage =
    'usage: examples-nats.ts streams | publish SUBJECT JSON... | read STREAM [N] | delete-streams';
  if (!cmd || !['streams', 'publish', 'read', 'delete-streams'].includes(cmd)) throw new Error(usage);
  const { nc, close } = await connectNats();
  try {
    const jsm = await jetstreamManager(nc);
    if (cmd === 'streams') {
      for (const line of await ensureStreams(jsm)) console.log(line);
    } else if (cmd === 'delete-streams') {
      for (const line of await deleteStreams(jsm)) console.log(line);
    } else if (cmd === 'publish') {
      const [subject, ...bodies] = args;
      if (!subject || bodies.length === 0) throw new Error(usage);
      const js = jetstream(nc);
      for (const body of bodies) {
        JSON.parse(body); // the examples' handlers expect JSON: fail here rather than in the function
        const ack = await js.publish(subject, body);
        console.log(`published to ${subject}: stream ${ack.stream}, sequence ${ack.seq}`);
      }
    } else {
      const [stream, n] = args;
      if (!stream) throw new Error(usage);
      for (const m of await lastMessages(jsm, stream, Number(n ?? 10))) console.log(JSON.stringify(m));
    }
  } finally {
    await close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
