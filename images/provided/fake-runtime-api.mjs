// A fake Lambda Runtime API for images/provided/selftest.sh: hands out the events given as
// arguments (JSON, one invocation each), records what the runtime answers and prints the record
// as one JSON line on stdout once every event has an answer. Then it holds the runtime's next
// request open (as an idle Lambda environment) until it is killed.
//   node fake-runtime-api.mjs PORT EVENT_JSON...
import { createServer } from 'node:http';

const [port, ...events] = process.argv.slice(2);
const queue = events.map((e, i) => ({ id: `req-${i + 1}`, event: e }));
const answers = [];
const base = '/2018-06-01/runtime';
const done = () => {
  if (answers.length < events.length) return;
  process.stdout.write(`${JSON.stringify(answers)}\n`);
};
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const url = req.url ?? '';
    if (req.method === 'GET' && url === `${base}/invocation/next`) {
      const next = queue.shift();
      if (!next) return; // no more work: the runtime waits here
      res.writeHead(200, {
        'content-type': 'application/json',
        'lambda-runtime-aws-request-id': next.id,
        'lambda-runtime-deadline-ms': String(Date.now() + 30_000),
        'lambda-runtime-invoked-function-arn': 'arn:aws:lambda:sluice:default:function:rust-fn',
        'lambda-runtime-trace-id': 'Root=1-00000000-000000000000000000000000;Sampled=0',
      });
      return res.end(next.event);
    }
    const m = /^\/2018-06-01\/runtime\/(?:invocation\/([^/]+)\/(response|error)|init\/(error))$/.exec(url);
    if (req.method === 'POST' && m) {
      answers.push({
        requestId: m[1] ?? null,
        kind: m[3] ? 'init-error' : m[2],
        errorType: req.headers['lambda-runtime-function-error-type'] ?? null,
        body: body ? JSON.parse(body) : null,
      });
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end('{"status":"OK"}');
      if (m[3]) answers.length = events.length; // an init error ends the test
      return done();
    }
    res.writeHead(404);
    res.end();
  });
});
server.listen(Number(port), '127.0.0.1');
