import { headers as natsHeaders } from '@nats-io/transport-node';
import { SluiceError, ValidationError } from '../lib/errors.js';
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

export type ParsedDestination =
  | { kind: 'nats'; subject: string }
  | { kind: 'function'; function: string; qualifier?: string }
  | { kind: 'http'; url: string };

export function parseDestination(uri: string): ParsedDestination {
  if (uri.startsWith('nats:')) {
    const subject = uri.slice(5);
    if (!/^[^\s*>]+$/.test(subject)) throw new ValidationError(`destination ${uri}: bad NATS subject`);
    return { kind: 'nats', subject };
  }
  if (uri.startsWith('function:')) {
    const [fn, qualifier, extra] = uri.slice(9).split(':');
    if (!fn || extra !== undefined)
      throw new ValidationError(`destination ${uri}: use function:NAME[:QUALIFIER]`);
    return { kind: 'function', function: fn, ...(qualifier ? { qualifier } : {}) };
  }
  if (/^https?:\/\//.test(uri)) return { kind: 'http', url: uri };
  throw new ValidationError(
    `destination ${uri}: expected nats:SUBJECT, function:NAME[:QUALIFIER] or http(s)://URL`,
  );
}

/**
 * The poller's destination sender (the gateway's async destinations live in the gateway process;
 * this one is small and self-contained): NATS subjects through JetStream in the mapping's own
 * namespace account (the subject must be captured by a stream of that namespace, so the record
 * is stored; no other account is reachable), functions as `Event` invocations through the
 * gateway, HTTP endpoints by POST (2xx accepts).
 */
export class DestinationSender implements Destinations {
  constructor(
    private readonly tenants: TenantNats,
    private readonly invoker: Invoker,
    private readonly httpTimeoutMs = 10_000,
  ) {}

  async send(uri: string, record: unknown, opts: { namespace: string; dedupId: string }): Promise<void> {
    const dest = parseDestination(uri);
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
            function: dest.function,
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
        let res: Response;
        try {
          res = await fetch(dest.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': opts.dedupId },
            body,
            signal: AbortSignal.timeout(this.httpTimeoutMs),
          });
          await res.arrayBuffer();
        } catch (cause) {
          throw new DestinationError(`POST ${dest.url} failed`, { cause });
        }
        if (res.status < 200 || res.status >= 300)
          throw new DestinationError(`POST ${dest.url}: HTTP ${res.status}`);
        return;
      }
    }
  }
}
