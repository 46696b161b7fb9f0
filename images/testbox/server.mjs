// testbox: the local cluster's e2e test server. Serves HTTP on $PORT (8080) and answers every
// request with JSON naming the pod, so a test can tell which pod served it.
//   node /testbox/server.mjs          serve
//   node /testbox/server.mjs get URL  GET URL, print the body, exit 0 (exit 1 with the error)
//   node /testbox/server.mjs connect HOST PORT [TIMEOUT_MS]  TCP connect; prints ok or the error
/* global fetch, setTimeout, clearTimeout */
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';

const [mode, a, b, c] = process.argv.slice(2);

if (mode === 'get') {
  const timer = setTimeout(() => fail(new Error('timeout')), Number(b ?? 5000));
  fetch(a)
    .then(async (r) => {
      clearTimeout(timer);
      process.stdout.write(await r.text());
      process.exit(r.ok ? 0 : 1);
    })
    .catch((e) => fail(e.cause ?? e));
} else if (mode === 'connect') {
  const started = Date.now();
  const sock = net.connect({ host: a, port: Number(b) });
  sock.setTimeout(Number(c ?? 5000), () => fail(new Error('timeout'), started));
  sock.on('connect', () => {
    console.log(`ok ${Date.now() - started}ms`);
    process.exit(0);
  });
  sock.on('error', (e) => fail(e, started));
} else {
  const port = Number(process.env.PORT ?? 8080);
  const server = http.createServer((req, res) => {
    const body = JSON.stringify({
      hostname: os.hostname(),
      method: req.method,
      url: req.url,
      remote: req.socket.remoteAddress,
    });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body + '\n');
  });
  server.listen(port, () => console.log(`testbox listening on :${port}`));
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function fail(e, started) {
  const ms = started ? ` after ${Date.now() - started}ms` : '';
  console.log(`error ${e.code ?? ''} ${e.message}${ms}`);
  process.exit(1);
}
