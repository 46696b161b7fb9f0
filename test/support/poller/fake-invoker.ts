import type { InvokeRequest, InvokeResult, Invoker } from '../../../poller/invoker.js';

export interface RecordedCall {
  req: InvokeRequest;
  event: unknown;
  at: number;
}

export type FakeHandler = (event: unknown, req: InvokeRequest) => InvokeResult | Promise<InvokeResult>;

/** Answers like the gateway would, from a handler; records every call. */
export class FakeInvoker implements Invoker {
  readonly calls: RecordedCall[] = [];
  inFlight = 0;

  constructor(public handler: FakeHandler = () => ok({})) {}

  async invoke(req: InvokeRequest, signal?: AbortSignal): Promise<InvokeResult> {
    let event: unknown;
    try {
      event = JSON.parse(req.payload.toString('utf8'));
    } catch {
      event = req.payload.toString('utf8');
    }
    this.calls.push({ req, event, at: Date.now() });
    this.inFlight++;
    try {
      if (signal?.aborted) return { kind: 'error', message: 'aborted', retryable: true };
      return await this.handler(event, req);
    } finally {
      this.inFlight--;
    }
  }
}

export const ok = (body: unknown): InvokeResult => ({
  kind: 'success',
  payload: Buffer.from(JSON.stringify(body)),
  executedVersion: '$LATEST',
});

export const fnError = (message: string): InvokeResult => ({
  kind: 'function_error',
  payload: Buffer.from(JSON.stringify({ errorType: 'Error', errorMessage: message, trace: [] })),
  errorType: 'Error',
  timedOut: false,
});
