import type { InvokeOutcome } from '../../../api/outcomes.js';
import type { FunctionInvoker, InvokeRequest } from '../../../gateway/async/invoker.js';

/** A scripted invoker for tests and benchmarks: records every call and tracks concurrency. */
export class FakeInvoker implements FunctionInvoker {
  readonly calls: InvokeRequest[] = [];
  /** Calls per `namespace/function/requestId`. */
  readonly callsByRequest = new Map<string, number>();
  private readonly current = new Map<string, number>();
  /** Highest concurrency seen per `namespace/function`. */
  readonly maxConcurrent = new Map<string, number>();
  recordCalls = true;

  constructor(
    public behaviour: (req: InvokeRequest) => InvokeOutcome | Promise<InvokeOutcome> = (req) =>
      FakeInvoker.ok(req),
  ) {}

  static ok(
    req: InvokeRequest,
    body: unknown = { ok: true, attempt: req.approximateInvokeCount },
  ): InvokeOutcome {
    return { kind: 'success', payload: Buffer.from(JSON.stringify(body)), executedVersion: '$LATEST' };
  }

  static error(errorType = 'Error', errorMessage = 'boom'): InvokeOutcome {
    return {
      kind: 'function_error',
      errorType,
      payload: Buffer.from(JSON.stringify({ errorType, errorMessage, trace: [] })),
      executedVersion: '$LATEST',
    };
  }

  callsOf(namespace: string, fn: string, requestId: string): number {
    return this.callsByRequest.get(`${namespace}/${fn}/${requestId}`) ?? 0;
  }

  concurrentOf(namespace: string, fn: string): number {
    return this.current.get(`${namespace}/${fn}`) ?? 0;
  }

  async invoke(req: InvokeRequest): Promise<InvokeOutcome> {
    const fnKey = `${req.namespace}/${req.function}`;
    const key = `${fnKey}/${req.requestId}`;
    if (this.recordCalls) this.calls.push(req);
    this.callsByRequest.set(key, (this.callsByRequest.get(key) ?? 0) + 1);
    const now = (this.current.get(fnKey) ?? 0) + 1;
    this.current.set(fnKey, now);
    if (now > (this.maxConcurrent.get(fnKey) ?? 0)) this.maxConcurrent.set(fnKey, now);
    try {
      return await this.behaviour(req);
    } finally {
      this.current.set(fnKey, (this.current.get(fnKey) ?? 1) - 1);
    }
  }
}
