import { headers as natsHeaders } from '@nats-io/transport-node';
import { ValidationError, type Logger } from '../../lib/index.js';
import { withTenant, type TenantNats } from '../../lib/nats/tenants.js';
import type { EventAcceptor } from './accept.js';
import {
  DEFAULT_ADDRESS_POLICY,
  parseDestination,
  postToDestination,
  type AddressCheck,
  type Destination,
  type Resolver,
} from '../../api/destinations.js';
import { AsyncPayloadTooLargeError, DestinationDeliveryError } from './errors.js';
import type { Condition } from '../../api/records.js';

/**
 * Success and failure destinations under the contract of api/destinations.ts:
 * `function:NAME[:QUALIFIER]` (an async invoke of a function in the same namespace with the record
 * as its event), `nats:SUBJECT` (a JetStream publish in the function's own namespace account: a
 * stream of that namespace must bind the subject, otherwise the delivery fails — a core publish
 * could be lost without anyone knowing; no other account, the platform's included, is reachable),
 * `http(s)://URL` (a POST of the record as JSON to a public address, checked again after DNS, no
 * redirects).
 */

/** What a delivery is about (for de-duplication ids, headers and logs). */
export interface DeliveryContext {
  namespace: string;
  function: string;
  requestId: string;
  condition: Condition;
  /** Unique per source message: a redelivered message re-delivers under the same id (de-duplicated). */
  deliveryId: string;
  traceparent?: string;
}

export interface DeliveryPolicy {
  /** Tries per record before it goes to the dead-letter stream. */
  attempts: number;
  /** First pause between tries, doubled each time. */
  backoffMs: number;
  httpTimeoutMs: number;
  natsTimeoutMs: number;
}

export const DEFAULT_DELIVERY: DeliveryPolicy = {
  attempts: 4,
  backoffMs: 200,
  httpTimeoutMs: 10_000,
  natsTimeoutMs: 5000,
};

export interface DestinationDeps {
  /** Namespaces' own accounts: `nats:` records are published in the function's. */
  tenants: TenantNats;
  acceptor: EventAcceptor;
  /** Whether a function exists (a destination function that does not is a failed delivery). */
  functionExists: (namespace: string, name: string, qualifier?: string) => boolean;
  /** Subjects under this prefix are Sluice's own and refused as destinations (besides `sluice.`, `$` and `_INBOX`). */
  reservedPrefix: string;
  /** Which addresses http(s) destinations may reach (default: the contract's rules). */
  addresses?: AddressCheck;
  /** DNS for http(s) destinations (default: the system resolver). */
  resolve?: Resolver;
  policy?: DeliveryPolicy;
  log: Logger;
  sleep?: (ms: number) => Promise<void>;
}

/** A failure no retry can fix (a missing function, a refused request). */
class PermanentError extends DestinationDeliveryError {}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Destinations {
  private readonly policy: DeliveryPolicy;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: DestinationDeps) {
    this.policy = deps.policy ?? DEFAULT_DELIVERY;
    this.sleep = deps.sleep ?? defaultSleep;
  }

  /**
   * Delivers a record, retrying with backoff; throws DestinationDeliveryError (the caller then
   * keeps the record in the dead-letter stream).
   */
  async deliver(uri: string, record: Buffer, ctx: DeliveryContext): Promise<void> {
    let dest: Destination;
    try {
      dest = parseDestination(uri, this.deps.addresses ?? DEFAULT_ADDRESS_POLICY, [this.deps.reservedPrefix]);
    } catch (err) {
      this.deps.log.warn(
        { destination: uri, requestId: ctx.requestId, err: (err as Error).message },
        'destination refused',
      );
      throw new DestinationDeliveryError((err as Error).message, { cause: err });
    }
    let last: unknown;
    for (let attempt = 1; attempt <= this.policy.attempts; attempt++) {
      try {
        await this.once(dest, record, ctx);
        return;
      } catch (err) {
        last = err;
        this.deps.log.warn(
          { destination: uri, attempt, requestId: ctx.requestId, err: (err as Error).message },
          'destination delivery failed',
        );
        if (
          err instanceof PermanentError ||
          err instanceof AsyncPayloadTooLargeError ||
          err instanceof ValidationError
        ) {
          break;
        }
        if (attempt < this.policy.attempts) await this.sleep(this.policy.backoffMs * 2 ** (attempt - 1));
      }
    }
    throw new DestinationDeliveryError(`delivery to ${uri} failed: ${(last as Error).message}`, {
      cause: last,
    });
  }

  private async once(dest: Destination, record: Buffer, ctx: DeliveryContext): Promise<void> {
    switch (dest.kind) {
      case 'function':
        return this.toFunction(dest, record, ctx);
      case 'nats':
        return this.toNats(dest, record, ctx);
      case 'http':
        return this.toHttp(dest, record, ctx);
    }
  }

  private async toFunction(
    dest: Extract<Destination, { kind: 'function' }>,
    record: Buffer,
    ctx: DeliveryContext,
  ): Promise<void> {
    if (!this.deps.functionExists(ctx.namespace, dest.name, dest.qualifier)) {
      throw new PermanentError(
        `Function not found: ${ctx.namespace}/${dest.name}${dest.qualifier ? `:${dest.qualifier}` : ''}`,
      );
    }
    await this.deps.acceptor.publishWithId(
      {
        namespace: ctx.namespace,
        function: dest.name,
        ...(dest.qualifier ? { qualifier: dest.qualifier } : {}),
        payload: record,
        ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}),
      },
      `dest:${ctx.deliveryId}`,
    );
  }

  private async toNats(
    dest: Extract<Destination, { kind: 'nats' }>,
    record: Buffer,
    ctx: DeliveryContext,
  ): Promise<void> {
    const h = natsHeaders();
    h.set('Sluice-Request-Id', ctx.requestId);
    h.set('Sluice-Condition', ctx.condition);
    h.set('Sluice-Function', `${ctx.namespace}/${ctx.function}`);
    h.set('Content-Type', 'application/json');
    if (ctx.traceparent) h.set('traceparent', ctx.traceparent);
    try {
      await withTenant(this.deps.tenants, ctx.namespace, ({ js }) =>
        js.publish(dest.subject, record, {
          msgID: `rec:${ctx.deliveryId}`,
          headers: h,
          timeout: this.policy.natsTimeoutMs,
        }),
      );
    } catch (err) {
      const msg = (err as Error).message;
      if (/no responders|503|not enabled/i.test(msg)) {
        throw new DestinationDeliveryError(`no JetStream stream binds subject ${dest.subject}`, {
          cause: err,
        });
      }
      throw err;
    }
  }

  private async toHttp(
    dest: Extract<Destination, { kind: 'http' }>,
    record: Buffer,
    ctx: DeliveryContext,
  ): Promise<void> {
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'Sluice-Request-Id': ctx.requestId,
      'Sluice-Condition': ctx.condition,
      'Sluice-Function': `${ctx.namespace}/${ctx.function}`,
      'Idempotency-Key': ctx.deliveryId,
    };
    if (ctx.traceparent) headers.traceparent = ctx.traceparent;
    // Validated, resolved once, every address checked, connected to the checked one; no redirects.
    const { status } = await postToDestination(dest.uri, record, headers, {
      check: this.deps.addresses ?? DEFAULT_ADDRESS_POLICY,
      ...(this.deps.resolve ? { resolve: this.deps.resolve } : {}),
      timeoutMs: this.policy.httpTimeoutMs,
    });
    if (status >= 200 && status < 300) return;
    const msg = `${dest.url} answered ${status}`;
    if (status >= 300 && status < 400) throw new PermanentError(`${msg}: redirects are not followed`);
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) throw new PermanentError(msg);
    throw new DestinationDeliveryError(msg);
  }
}
