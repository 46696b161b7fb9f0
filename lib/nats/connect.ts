import { readFileSync } from 'node:fs';
import { credsAuthenticator, type ConnectionOptions } from '@nats-io/transport-node';

const te = new TextEncoder();

/**
 * Connection options that authenticate with a credentials file (user JWT + seed). The file is
 * read again on every (re)connect, so creds a Secret update replaces are picked up.
 */
export function credsFileAuth(file: string): Pick<ConnectionOptions, 'authenticator'> {
  return { authenticator: credsAuthenticator(() => new Uint8Array(readFileSync(file))) };
}

/** Connection options from creds held in memory. */
export function credsAuth(creds: string): Pick<ConnectionOptions, 'authenticator'> {
  return { authenticator: credsAuthenticator(te.encode(creds)) };
}
