import { createServer, type Server } from 'node:http';

/**
 * `/healthz` (the process is up) and `/readyz` (`ready()` says it can do its work) for
 * components whose main port is not HTTP (controller, poller).
 */
export async function startHealthServer(
  port: number,
  ready: () => boolean,
  host = '0.0.0.0',
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = req.url?.split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ok = ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ready\n' : 'not ready\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
