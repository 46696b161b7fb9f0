import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AccountAdmin } from '../../lib/nats/accounts.js';
import type { NatsKeys } from '../../lib/nats/claims.js';
import { credsAuth } from '../../lib/nats/connect.js';
import type { AccountOps } from './reconcile.js';

/** AccountOps over the controller's SYS connection; `verify` connects as the account's user. */
export class NatsAccountOps implements AccountOps {
  private readonly sys: () => NatsConnection;

  /** `sys`: the SYS connection, or a getter that throws while it is not connected yet. */
  constructor(
    sys: NatsConnection | (() => NatsConnection),
    private readonly keys: Pick<NatsKeys, 'operatorSigner'>,
    private readonly servers: string,
  ) {
    this.sys = typeof sys === 'function' ? sys : () => sys;
  }

  private get admin(): AccountAdmin {
    return new AccountAdmin(this.sys(), this.keys);
  }

  async ensure(account: string, jwt: string): Promise<boolean> {
    return this.admin.ensure(account, jwt);
  }

  async remove(account: string): Promise<void> {
    return this.admin.remove(account);
  }

  async verify(creds: string): Promise<void> {
    // The account may take a moment to load after the push: a few tries.
    let last: unknown;
    for (let i = 0; i < 5; i++) {
      const nc = await connect({ servers: this.servers, reconnect: false, ...credsAuth(creds) }).catch(
        (err: unknown) => {
          last = err;
          return undefined;
        },
      );
      if (nc) {
        try {
          await (await jetstreamManager(nc)).getAccountInfo();
          return;
        } catch (err) {
          last = err;
        } finally {
          await nc.close().catch(() => undefined);
        }
      }
      await new Promise((r) => setTimeout(r, 100 * 2 ** i));
    }
    throw last instanceof Error ? last : new Error(String(last));
  }
}
