import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.js';
import { GatewayInflight } from './inflight.js';

const log = createLogger({ component: 'test', level: 'silent' });

describe('GatewayInflight', () => {
  const servers: Server[] = [];
  afterEach(() => servers.splice(0).forEach((s) => s.close()));

  const gateway = async (body: unknown, status = 200): Promise<string> => {
    const s = createServer((req, res) => {
      expect(req.url).toBe('/internal/v1/inflight');
      expect(req.headers.authorization).toBe('Bearer t');
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(s.address() as { port: number }).port}`;
  };

  it('sums the reports of all gateways per function version and forgets stale ones', async () => {
    const a = await gateway({
      functions: [{ namespace: 'n', function: 'f', version: '$LATEST', inflight: 2 }],
    });
    const b = await gateway({
      functions: [
        { namespace: 'n', function: 'f', version: '$LATEST', inflight: 3 },
        { namespace: 'n', function: 'f', version: '2', inflight: 1 },
      ],
    });
    const down = await gateway({}, 404);
    let now = 1000;
    const urls = [a, b, down];
    const g = new GatewayInflight({
      endpoints: { urls: () => urls },
      log,
      token: () => Promise.resolve('t'),
      now: () => now,
      staleMs: 5000,
    });
    await g.poll();
    expect(Object.fromEntries(g.inflight())).toEqual({ 'n/f/$LATEST': 5, 'n/f/2': 1 });
    urls.splice(1, 1); // gateway b went away
    now += 6000;
    await g.poll();
    expect(Object.fromEntries(g.inflight())).toEqual({ 'n/f/$LATEST': 2 });
  });
});
