import { equivalent } from '@nats-io/jwt';
import type { NatsConnection } from '@nats-io/transport-node';
import { SluiceError } from '../errors.js';
import { deleteAccountsRequest, type NatsKeys } from './claims.js';

const te = new TextEncoder();

/** The server refused an account operation. */
export class AccountAdminError extends SluiceError {
  override readonly name = 'AccountAdminError';
}

interface ClaimsReply {
  data?: { account?: string; code?: number; message?: string };
  error?: { account?: string; code?: number; description?: string };
}

/**
 * Account claims through the system account (the controller's SYS user): look up, push,
 * delete, and purge an account's JetStream data. Every server of a cluster answers a push; the
 * first answer is taken, and a server that missed it catches up through the resolvers' sync.
 */
export class AccountAdmin {
  constructor(
    private readonly sys: NatsConnection,
    private readonly keys: Pick<NatsKeys, 'operatorSigner'>,
    private readonly timeoutMs = 5000,
  ) {}

  /** The account JWT the server has, or undefined. */
  async lookup(account: string): Promise<string | undefined> {
    const r = await this.sys.request(`$SYS.REQ.ACCOUNT.${account}.CLAIMS.LOOKUP`, undefined, {
      timeout: this.timeoutMs,
    });
    const jwt = r.string().trim();
    return jwt.startsWith('eyJ') ? jwt : undefined;
  }

  async push(jwt: string): Promise<void> {
    const r = await this.sys.request('$SYS.REQ.CLAIMS.UPDATE', te.encode(jwt), { timeout: this.timeoutMs });
    const reply = r.json<ClaimsReply>();
    if (reply.error || reply.data?.code !== 200) {
      throw new AccountAdminError(
        `account push refused: ${reply.error?.description ?? reply.data?.message ?? JSON.stringify(reply)}`,
      );
    }
  }

  /**
   * Pushes `jwt` unless the server already has equivalent claims (same content, any issue time).
   * Returns whether it pushed. A differing or untrusted JWT on the server is replaced.
   */
  async ensure(account: string, jwt: string): Promise<boolean> {
    const current = await this.lookup(account);
    if (current && (await equivalent(current, jwt).catch(() => false))) return false;
    await this.push(jwt);
    return true;
  }

  /** Removes an account for good: its JetStream data first (a claims delete alone keeps it), then its claims. */
  async remove(account: string): Promise<void> {
    try {
      await this.sys.request(`$JS.API.ACCOUNT.PURGE.${account}`, undefined, { timeout: this.timeoutMs });
    } catch (err) {
      // An account the server never loaded has no JetStream to purge.
      if (!/no responders|not found|account not enabled|jetstream not enabled/i.test((err as Error).message))
        throw err;
    }
    const body = await deleteAccountsRequest(this.keys, [account]);
    const r = await this.sys.request('$SYS.REQ.CLAIMS.DELETE', te.encode(body), { timeout: this.timeoutMs });
    const reply = r.json<ClaimsReply>();
    if (reply.error && !/not found|no such/i.test(reply.error.description ?? '')) {
      throw new AccountAdminError(
        `account delete refused: ${reply.error.description ?? JSON.stringify(reply)}`,
      );
    }
  }
}
