import { describe, expect, it } from 'vitest';
import { buildUrlEvent, clfTime, isTextContent, queryParameters, type UrlRequest } from './event.js';
import { BAD_GATEWAY, mapUrlResult } from './response.js';

const base: UrlRequest = {
  method: 'POST',
  rawPath: '/orders/42',
  rawQueryString: 'a=1&b=x%20y&a=2',
  headers: {
    host: ['gw.example'],
    'user-agent': ['curl/8'],
    'content-type': ['application/json'],
    cookie: ['s=1; t=2'],
    'x-multi': ['a', 'b'],
  },
  body: Buffer.from('{"x":1}'),
  sourceIp: '10.1.2.3',
  domainName: 'gw.example',
  protocol: 'HTTP/1.1',
  requestId: 'req-1',
  accountId: 'shop',
  apiId: 'abc',
  time: new Date(Date.UTC(2020, 2, 12, 19, 3, 58)),
};

describe('function URL event (payload format 2.0)', () => {
  it('maps the request', () => {
    const e = buildUrlEvent(base);
    expect(e).toMatchObject({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/orders/42',
      rawQueryString: 'a=1&b=x%20y&a=2',
      cookies: ['s=1', 't=2'],
      queryStringParameters: { a: '1,2', b: 'x y' },
      body: '{"x":1}',
      isBase64Encoded: false,
      requestContext: {
        accountId: 'shop',
        apiId: 'abc',
        domainName: 'gw.example',
        domainPrefix: 'gw',
        http: {
          method: 'POST',
          path: '/orders/42',
          protocol: 'HTTP/1.1',
          sourceIp: '10.1.2.3',
          userAgent: 'curl/8',
        },
        requestId: 'req-1',
        stage: '$default',
        time: '12/Mar/2020:19:03:58 +0000',
        timeEpoch: 1584039838000,
      },
    });
    expect(e.headers).toEqual({
      host: 'gw.example',
      'user-agent': 'curl/8',
      'content-type': 'application/json',
      'x-multi': 'a,b',
    });
  });

  it.each([
    {
      name: 'binary body is base64',
      type: 'application/octet-stream',
      body: Buffer.from([0, 1, 2, 255]),
      b64: true,
      want: 'AAEC/w==',
    },
    {
      name: 'text body as is',
      type: 'text/plain; charset=utf-8',
      body: Buffer.from('hi'),
      b64: false,
      want: 'hi',
    },
    {
      name: 'no body: no body field',
      type: 'application/json',
      body: Buffer.alloc(0),
      b64: false,
      want: undefined,
    },
  ])('$name', ({ type, body, b64, want }) => {
    const e = buildUrlEvent({ ...base, headers: { 'content-type': [type] }, body });
    expect(e.isBase64Encoded).toBe(b64);
    expect(e.body).toBe(want);
  });

  it.each([
    { name: 'json', t: 'application/json', text: true },
    { name: 'vendor json', t: 'application/vnd.api+json', text: true },
    { name: 'form', t: 'application/x-www-form-urlencoded', text: true },
    { name: 'png', t: 'image/png', text: false },
    { name: 'none', t: undefined, text: true },
  ])('isTextContent: $name', ({ t, text }) => {
    expect(isTextContent(t)).toBe(text);
  });

  it("never passes the caller's credentials or signing headers to the function", () => {
    const e = buildUrlEvent({
      ...base,
      headers: {
        host: ['gw.example'],
        authorization: ['AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/lambda/aws4_request, …'],
        'x-amz-security-token': ['FwoGZXIvYXdzE…'],
        'x-amz-date': ['20260101T000000Z'],
        'x-amz-content-sha256': ['e3b0c442…'],
        'x-amz-signature': ['abc'],
        'x-amz-credential': ['AKID/…'],
        'proxy-authorization': ['Basic dTpw'],
        'x-amz-invocation-type': ['Event'],
        'x-amz-user-agent': ['aws-sdk-js/3'],
        'idempotency-key': ['k1'],
      },
    });
    expect(e.headers).toEqual({
      host: 'gw.example',
      'x-amz-invocation-type': 'Event',
      'x-amz-user-agent': 'aws-sdk-js/3',
      'idempotency-key': 'k1',
    });
    expect(JSON.stringify(e)).not.toMatch(/AKID|FwoGZXIvYXdzE|Basic dTpw|20260101T000000Z/);
  });

  it('omits empty query parameters and cookies', () => {
    const e = buildUrlEvent({ ...base, rawQueryString: '', headers: {} });
    expect(e.queryStringParameters).toBeUndefined();
    expect(e.cookies).toBeUndefined();
    expect(queryParameters('')).toBeUndefined();
    expect(clfTime(new Date(Date.UTC(2021, 0, 2, 3, 4, 5)))).toBe('02/Jan/2021:03:04:05 +0000');
  });
});

describe('function URL response mapping', () => {
  const j = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
  it.each([
    {
      name: 'structured response',
      result: { statusCode: 201, headers: { 'X-A': 'b' }, body: 'created' },
      status: 201,
      headers: { 'x-a': 'b', 'content-type': 'application/json' },
      cookies: [],
      body: 'created',
    },
    {
      name: 'content type kept',
      result: { statusCode: 200, headers: { 'content-type': 'text/html' }, body: '<p>' },
      status: 200,
      headers: { 'content-type': 'text/html' },
      cookies: [],
      body: '<p>',
    },
    {
      name: 'cookies become Set-Cookie',
      result: { statusCode: 200, cookies: ['a=1; Path=/', 'b=2'], body: '' },
      status: 200,
      headers: {},
      cookies: ['a=1; Path=/', 'b=2'],
      body: '',
    },
    {
      name: 'base64 body decoded',
      result: {
        statusCode: 200,
        headers: { 'content-type': 'image/png' },
        body: 'AAEC/w==',
        isBase64Encoded: true,
      },
      status: 200,
      headers: { 'content-type': 'image/png' },
      cookies: [],
      body: '\u0000\u0001\u0002\ufffd',
    },
    { name: 'status only', result: { statusCode: 204 }, status: 204, headers: {}, cookies: [], body: '' },
    {
      name: 'plain object → 200 JSON',
      result: { message: 'hi' },
      status: 200,
      headers: { 'content-type': 'application/json' },
      cookies: [],
      body: '{"message":"hi"}',
    },
    {
      name: 'string → 200 as is',
      result: 'hello',
      status: 200,
      headers: { 'content-type': 'application/json' },
      cookies: [],
      body: 'hello',
    },
    {
      name: 'number → 200 JSON',
      result: 42,
      status: 200,
      headers: { 'content-type': 'application/json' },
      cookies: [],
      body: '42',
    },
  ])('$name', ({ result, status, headers, cookies, body }) => {
    const r = mapUrlResult(j(result));
    expect(r.status).toBe(status);
    expect(r.headers).toEqual(headers);
    expect(r.cookies).toEqual(cookies);
    expect(r.body.toString('utf8')).toBe(body);
  });

  it.each([
    { name: 'not JSON', raw: Buffer.from('not json') },
    { name: 'bad status code', raw: j({ statusCode: 'ok' }) },
    { name: 'status out of range', raw: j({ statusCode: 99 }) },
    { name: 'an interim status (switching protocols)', raw: j({ statusCode: 101 }) },
  ])('502 for $name', ({ raw }) => {
    expect(mapUrlResult(raw)).toEqual(BAD_GATEWAY);
  });
});

describe('function URL response headers the gateway owns', () => {
  it.each([
    { name: 'content-length', headers: { 'Content-Length': '5' } },
    { name: 'transfer-encoding', headers: { 'Transfer-Encoding': 'chunked' } },
    { name: 'connection', headers: { Connection: 'close' } },
    { name: 'keep-alive', headers: { 'Keep-Alive': 'timeout=1' } },
    { name: 'upgrade', headers: { Upgrade: 'websocket' } },
    { name: 'te', headers: { TE: 'trailers' } },
    { name: 'trailer', headers: { Trailer: 'x-sum' } },
    { name: 'proxy-*', headers: { 'Proxy-Authenticate': 'Basic', 'proxy-connection': 'keep-alive' } },
    { name: 'a name with CRLF', headers: { 'x-a\r\nset-cookie: stolen=1': 'v' } },
    { name: 'a name with a space', headers: { 'x a': 'v' } },
    { name: 'an empty name', headers: { '': 'v' } },
    { name: 'a value with CRLF', headers: { 'x-a': 'v\r\nHTTP/1.1 200 OK' } },
    { name: 'a value with NUL', headers: { 'x-a': 'v\u0000' } },
  ])('drops $name', ({ headers }) => {
    const r = mapUrlResult(
      Buffer.from(JSON.stringify({ statusCode: 200, headers: { ...headers, 'x-ok': 'yes' }, body: 'hi' })),
    );
    expect(r.headers).toEqual({ 'x-ok': 'yes', 'content-type': 'application/json' });
  });

  it('drops cookies that would break the header block', () => {
    const r = mapUrlResult(
      Buffer.from(JSON.stringify({ statusCode: 200, cookies: ['a=1', 'b=2\r\nx-injected: 1'], body: '' })),
    );
    expect(r.cookies).toEqual(['a=1']);
  });
});
