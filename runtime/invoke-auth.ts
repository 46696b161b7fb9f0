import { readFileSync } from 'node:fs';
import { tokensEqual } from '../api/invoke-token.js';

/**
 * Who may call the invoke endpoint: the holder of this function's invoke token (api/invoke-token.ts),
 * i.e. the platform's gateway. The kubelet's and the gateway's probes (/healthz, /readyz) stay open.
 */
export interface InvokeAuth {
  allows(token: string | undefined): boolean;
}

/** No token configured (tests, a runtime started by hand): every caller is allowed. */
export const OPEN_INVOKE_AUTH: InvokeAuth = { allows: () => true };

/**
 * The token in a file (the function's Secret, mounted by the controller). A rotated key changes
 * the Secret, which the kubelet updates in place: a token that does not match makes the file be
 * read again (at most once per `rereadMs`), so calls with the new token are accepted without a
 * restart.
 */
export class FileInvokeAuth implements InvokeAuth {
  private token: string;
  private readAt: number;

  constructor(
    private readonly file: string,
    private readonly rereadMs = 1000,
    private readonly now: () => number = Date.now,
  ) {
    this.token = this.read();
    this.readAt = this.now();
    if (!this.token) throw new Error(`${file}: the invoke token is empty`);
  }

  private read(): string {
    return readFileSync(this.file, 'utf8').trim();
  }

  allows(token: string | undefined): boolean {
    if (!token) return false;
    if (tokensEqual(token, this.token)) return true;
    if (this.now() - this.readAt < this.rereadMs) return false;
    this.readAt = this.now();
    try {
      this.token = this.read() || this.token;
    } catch {
      // keep the token we have
    }
    return tokensEqual(token, this.token);
  }
}
