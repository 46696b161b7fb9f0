import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A loopback HTTP server that records the paths it is asked for and answers `status(path)`. */
export interface HttpRecorder {
  readonly port: number;
  /** Paths asked for, in order (clear with `paths.length = 0`). */
  readonly paths: string[];
  close(): Promise<void>;
}

/** Starts an HttpRecorder; `location` is sent with every answer (for redirect tests). */
export async function startHttpRecorder(
  status: (path: string) => number,
  location = '/elsewhere',
): Promise<HttpRecorder> {
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    paths.push(req.url ?? '');
    req.resume();
    res.writeHead(status(req.url ?? ''), { location }).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    paths,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
