import { createServer, type Server } from 'node:net';

/**
 * The NetworkPolicy canary (runtime/policy-wait.ts): a TCP port that accepts every connection and
 * closes it at once, reading and writing nothing. Every function pod's policy denies it while
 * allowing the invoke port of the same pods, so a new function pod that can still connect here
 * knows its policy is not in force yet, and waits before running any code.
 */
export interface PolicyCanary {
  port: number;
  close(): Promise<void>;
}

export function startPolicyCanary(port: number, host = '0.0.0.0'): Promise<PolicyCanary> {
  const server: Server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.destroy();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : port,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}
