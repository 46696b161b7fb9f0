import { INVOKE_TOKEN_HEADER, INVOKE_TOKEN_KEY, invokeTokenSecretName } from '../../../api/invoke-token.js';
import { RUNTIME_INVOKE_PATH, RUNTIME_INVOKE_PORT } from '../../../api/naming.js';
import { cluster, forward } from './kube.js';

/** What a function pod's invoke endpoint answered. */
export interface Invocation {
  status: number;
  functionError: string | null;
  body: any;
  logTail: string;
}

export type Invoker = (event: unknown, headers?: Record<string, string>) => Promise<Invocation>;

/** The function's invoke token, from the Secret the controller wrote (what the gateway sends). */
export async function invokeTokenOf(namespace: string, fn: string): Promise<string> {
  const secret = await cluster().core.readNamespacedSecret({ namespace, name: invokeTokenSecretName(fn) });
  return Buffer.from(secret.data?.[INVOKE_TOKEN_KEY] ?? '', 'base64').toString();
}

/**
 * Invokes a pod's sluice-runtime straight through a loopback forward to its invoke endpoint
 * (bypassing the gateway), with the function's invoke token as the gateway would send it (none
 * when `token` is empty). The forward's stop function is pushed onto `stops`.
 */
export async function podInvoker(
  podIP: string | undefined,
  stops: (() => Promise<void>)[],
  token: string,
): Promise<Invoker> {
  if (!podIP) throw new Error('the pod has no IP yet');
  const fwd = await forward(`${podIP}:${RUNTIME_INVOKE_PORT}`);
  stops.push(fwd.stop);
  return async (event, headers = {}) => {
    const res = await fetch(`${fwd.base}${RUNTIME_INVOKE_PATH}`, {
      method: 'POST',
      body: JSON.stringify(event),
      headers: {
        'content-type': 'application/json',
        ...(token ? { [INVOKE_TOKEN_HEADER]: token } : {}),
        ...headers,
      },
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
