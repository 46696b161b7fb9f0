import type { JetStreamManager } from '@nats-io/jetstream';
import { describeError } from '../../lib/errors.js';
import { withTenant, type TenantNats } from '../../lib/nats/tenants.js';
import type { MappingConfig } from '../mapping.js';
import { consumerBacklog, consumerWaiting } from '../sources/delivery.js';
import { keyOf, workloadKey, type DemandSource, type Workload } from './autoscaler.js';
import type { Demand } from './decide.js';

/** The versions a qualifier routes to, with their shares (an alias may split traffic). */
export type VersionResolver = (
  namespace: string,
  fn: string,
  qualifier?: string,
) => { version: string; weight: number }[];

export interface JetStreamDemandOptions {
  /** The platform account (the async pipeline's consumers). */
  jsm: JetStreamManager;
  /** Namespaces' own accounts (mappings' consumers). */
  tenants: TenantNats;
  /** Enabled queue and stream mappings (schedules have no backlog). */
  mappings: () => MappingConfig[];
  resolve: VersionResolver;
  /** In-flight calls per workload key, from the gateways. */
  inflight: () => Map<string, number>;
  /** The async pipeline's stream and its per-function consumer names; unset: no async backlog. */
  async?: { stream: string; consumer: (namespace: string, fn: string) => string };
}

/**
 * Demand from JetStream: each backlog is read with the consumer-info API (answered by the
 * consumer's leader, never a random node's monitoring endpoint). A consumer that does not exist
 * is an error for the versions it feeds — they hold their replicas — never "infinite backlog".
 * The async backlog of a function counts for each of its running versions (the queue does not
 * say which version an event was resolved to); a mapping's backlog counts for the version its
 * qualifier resolves to, split by an alias's weights, as the invocations it needs:
 * ceil(backlog / batchSize), at most the mapping's maximumConcurrency.
 */
export class JetStreamDemand implements DemandSource {
  constructor(private readonly o: JetStreamDemandOptions) {}

  async demand(workloads: Workload[]): Promise<Map<string, Demand>> {
    const cache = new Map<string, Promise<number>>();
    // The async consumer's delivered events are being run by the gateways, which report them as
    // in-flight: only undelivered ones are backlog. A mapping's delivered records may be waiting
    // in a batching window or a retry backoff, where no gateway counts them: they stay backlog.
    const backlogOf = (stream: string, consumer: string, undeliveredOnly = false): Promise<number> => {
      const k = `${stream}/${consumer}/${undeliveredOnly}`;
      let p = cache.get(k);
      if (!p) {
        p = undeliveredOnly
          ? consumerWaiting(this.o.jsm, stream, consumer)
          : consumerBacklog(this.o.jsm, stream, consumer);
        cache.set(k, p);
      }
      return p;
    };
    const mappingBacklog = (namespace: string, stream: string, consumer: string): Promise<number> => {
      const k = `${namespace}/${stream}/${consumer}`;
      let p = cache.get(k);
      if (!p) {
        p = withTenant(this.o.tenants, namespace, ({ jsm }) => consumerBacklog(jsm, stream, consumer));
        cache.set(k, p);
      }
      return p;
    };
    const inflight = this.o.inflight();
    const out = new Map<string, Demand>();
    const add = (key: string, backlog: number, error?: string): void => {
      const d = out.get(key);
      if (!d) return;
      d.backlog += backlog;
      if (error) d.error = d.error ? `${d.error}; ${error}` : error;
    };
    for (const w of workloads) out.set(keyOf(w), { inflight: inflight.get(keyOf(w)) ?? 0, backlog: 0 });

    await Promise.all([
      ...(this.o.async
        ? workloads.map(async (w) => {
            const a = this.o.async as NonNullable<JetStreamDemandOptions['async']>;
            try {
              add(keyOf(w), await backlogOf(a.stream, a.consumer(w.namespace, w.function), true));
            } catch (err) {
              add(keyOf(w), 0, describeError(err));
            }
          })
        : []),
      ...this.o.mappings().map(async (m) => {
        if (m.source.kind === 'schedule') return;
        const targets = this.o.resolve(m.target.namespace, m.target.function, m.target.qualifier);
        let backlog = 0;
        let error: string | undefined;
        try {
          backlog = await mappingBacklog(m.ref.namespace, m.source.stream, m.source.consumer);
        } catch (err) {
          error = `mapping ${m.ref.namespace}/${m.ref.name}: ${describeError(err)}`;
        }
        // In invocations: a batch is one call, and the mapping never runs more than maximumConcurrency.
        const calls = Math.min(Math.ceil(backlog / m.batchSize), m.maximumConcurrency);
        for (const t of targets) {
          add(
            workloadKey(m.target.namespace, m.target.function, t.version),
            Math.ceil(calls * t.weight),
            error,
          );
        }
      }),
    ]);
    return out;
  }
}
