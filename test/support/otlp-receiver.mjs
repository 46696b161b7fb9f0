// A test OTLP/HTTP receiver (JSON encoding, `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`): it keeps every
// span it is sent and serves them back, flattened, for tests to check. Plain Node.js with no
// dependencies, so it runs as a pod from the platform image (`node otlp-receiver.mjs`) or on the host.
//   POST /v1/traces            OTLP ExportTraceServiceRequest (JSON) → 200 {}
//   POST /v1/metrics, /v1/logs accepted and dropped
//   GET  /spans[?traceId=HEX]  [{traceId, spanId, parentSpanId, name, kind, service, attributes, links, startNs, endNs, status}]
//   GET  /healthz              ok
// Listens on PORT (default 4318), all interfaces.
import { Buffer } from 'node:buffer';
import { realpathSync } from 'node:fs';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';

const spans = [];

/** OTLP JSON ids are hex (the spec's JSON mapping); older exporters sent base64. */
function hexId(v) {
  if (typeof v !== 'string' || v === '') return '';
  if (/^[0-9a-f]+$/i.test(v) && (v.length === 32 || v.length === 16)) return v.toLowerCase();
  return Buffer.from(v, 'base64').toString('hex');
}

function anyValue(v) {
  if (!v || typeof v !== 'object') return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('arrayValue' in v) return (v.arrayValue.values ?? []).map(anyValue);
  return undefined;
}

function attributes(list) {
  const out = {};
  for (const kv of list ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

export function flatten(request) {
  const out = [];
  for (const rs of request.resourceSpans ?? []) {
    const resource = attributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: hexId(s.traceId),
          spanId: hexId(s.spanId),
          parentSpanId: hexId(s.parentSpanId),
          name: s.name,
          kind: s.kind,
          service: resource['service.name'],
          scope: ss.scope?.name,
          resource,
          attributes: attributes(s.attributes),
          links: (s.links ?? []).map((l) => ({ traceId: hexId(l.traceId), spanId: hexId(l.spanId) })),
          startNs: String(s.startTimeUnixNano ?? ''),
          endNs: String(s.endTimeUnixNano ?? ''),
          status: s.status?.code ?? 0,
        });
      }
    }
  }
  return out;
}

function reply(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'content-type': type });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

export function startReceiver(port = 4318, host = '0.0.0.0') {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://receiver');
    if (req.method === 'GET' && url.pathname === '/healthz') return reply(res, 200, 'ok', 'text/plain');
    if (req.method === 'GET' && url.pathname === '/spans') {
      const id = url.searchParams.get('traceId');
      return reply(res, 200, id ? spans.filter((s) => s.traceId === id) : spans);
    }
    if (req.method === 'POST' && url.pathname.startsWith('/v1/')) {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        if (url.pathname !== '/v1/traces') return reply(res, 200, {});
        if (!String(req.headers['content-type'] ?? '').includes('json')) {
          return reply(res, 415, {
            message: 'this receiver takes OTLP/HTTP JSON (OTEL_EXPORTER_OTLP_PROTOCOL=http/json)',
          });
        }
        try {
          spans.push(...flatten(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
          reply(res, 200, {});
        } catch (err) {
          reply(res, 400, { message: String(err) });
        }
      });
      return;
    }
    reply(res, 404, { message: `${req.method} ${url.pathname} not found` });
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

// Run as a script (a ConfigMap mount is a symlink: compare real paths).
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  const server = await startReceiver(Number(process.env.PORT ?? 4318));
  console.log(`otlp receiver listening on ${JSON.stringify(server.address())}`);
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
