import { RUNTIME_INVOKE_PATH, RUNTIME_INVOKE_PORT } from '../../../api/naming.js';
import { forward } from './kube.js';

/** What a function pod's invoke endpoint answered. */
export interface Invocation {
  status: number;
  functionError: string | null;
  body: any;
  logTail: string;
}

export type Invoker = (event: unknown, headers?: Record<string, string>) => Promise<Invocation>;

/**
 * Invokes a pod's sluice-runtime straight through a loopback forward to its invoke endpoint
 * (bypassing the gateway). The forward's stop function is pushed onto `stops`.
 */
export async function podInvoker(
  podIP: string | undefined,
  stops: (() => Promise<void>)[],
): Promise<Invoker> {
  if (!podIP) throw new Error('the pod has no IP yet');
  const fwd = await forward(`${podIP}:${RUNTIME_INVOKE_PORT}`);
  stops.push(fwd.stop);
  return async (event, headers = {}) => {
    const res = await fetch(`${fwd.base}${RUNTIME_INVOKE_PATH}`, {
      method: 'POST',
      body: JSON.stringify(event),
      headers: { 'content-type': 'application/json', ...headers },
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    const tail = res.headers.get('x-amz-log-result');
    return {
      status: res.status,
      functionError: res.headers.get('x-amz-function-error'),
      body,
      logTail: tail ? Buffer.from(tail, 'base64').toString() : '',
    };
  };
}
