import { headers as natsHeaders } from '@nats-io/transport-node';
import {
  DEFAULT_ADDRESS_POLICY,
  parseDestination,
  postToDestination,
  type AddressCheck,
  type Resolver,
} from '../api/destinations.js';
import { SluiceError } from '../lib/errors.js';
import { withTenant, type TenantNats } from '../lib/nats/tenants.js';
import type { Invoker } from './invoker.js';

/** A destination URI could not take a record; the caller retries later. */
export class DestinationError extends SluiceError {
  override readonly name = 'DestinationError';
}

/** Where records that could not be processed go: `nats:SUBJECT`, `function:NAME[:QUALIFIER]`, `http(s)://URL`. */
export interface Destinations {
  /**
   * Delivers one record; resolves once it is durably accepted. `dedupId` makes retries of the
   * same record idempotent (JetStream de-duplication, Idempotency-Key).
   */
  send(uri: string, record: unknown, opts: { namespace: string; dedupId: string }): Promise<void>;
}

export interface DestinationSenderOptions {
  httpTimeoutMs?: number;
  /** Which addresses http(s) destinations may reach (default: the contract's rules). */
  addresses?: AddressCheck;
  /** DNS for http(s) destinations (default: the system resolver). */
  resolve?: Resolver;
}

/**
 * The poller's destination sender, under the one destination contract (api/destinations.ts, also
 * the gateway's): NATS subjects through JetStream in the mapping's own namespace account (the
 * subject must be captured by a stream of that namespace, so the record is stored; no other
 * account, the platform's included, is reachable), functions of the mapping's namespace as `Event`
 * invocations through the gateway, HTTP endpoints at public addresses by POST (2xx accepts;
 * checked after DNS, connected to the checked address, redirects not followed).
 */
export class DestinationSender implements Destinations {
  private readonly addresses: AddressCheck;

  constructor(
    private readonly tenants: TenantNats,
    private readonly invoker: Invoker,
    private readonly opts: DestinationSenderOptions = {},
  ) {
    this.addresses = opts.addresses ?? DEFAULT_ADDRESS_POLICY;
  }

  async send(uri: string, record: unknown, opts: { namespace: string; dedupId: string }): Promise<void> {
    let dest;
    try {
      dest = parseDestination(uri, this.addresses);
    } catch (cause) {
      throw new DestinationError((cause as Error).message, { cause });
    }
    const body = Buffer.from(JSON.stringify(record));
    switch (dest.kind) {
      case 'nats': {
        const h = natsHeaders();
        h.set('Content-Type', 'application/json');
        try {
          await withTenant(this.tenants, opts.namespace, ({ js }) =>
            js.publish(dest.subject, body, { msgID: opts.dedupId, headers: h }),
          );
        } catch (cause) {
          throw new DestinationError(`publishing to ${dest.subject} failed`, { cause });
        }
        return;
      }
      case 'function': {
        const r = await this.invoker.invoke({
          target: {
            namespace: opts.namespace,
            function: dest.name,
            ...(dest.qualifier ? { qualifier: dest.qualifier } : {}),
          },
          payload: body,
          type: 'Event',
          idempotencyKey: opts.dedupId,
        });
        if (r.kind === 'error' || r.kind === 'throttled') {
          throw new DestinationError(`invoking ${uri} failed: ${r.message}`);
        }
        return;
      }
      case 'http': {
        let status: number;
        try {
          ({ status } = await postToDestination(
            dest.uri,
            body,
            { 'content-type': 'application/json', 'idempotency-key': opts.dedupId },
            {
              check: this.addresses,
              ...(this.opts.resolve ? { resolve: this.opts.resolve } : {}),
              timeoutMs: this.opts.httpTimeoutMs ?? 10_000,
            },
          ));
        } catch (cause) {
          throw new DestinationError(`POST ${dest.url} failed: ${(cause as Error).message}`, { cause });
        }
        if (status >= 300 && status < 400) {
          throw new DestinationError(`POST ${dest.url}: HTTP ${status}; redirects are not followed`);
        }
        if (status < 200 || status >= 300) throw new DestinationError(`POST ${dest.url}: HTTP ${status}`);
        return;
      }
    }
  }
}
