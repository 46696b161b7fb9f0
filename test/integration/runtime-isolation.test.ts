/**
 * sluice-runtime's part in keeping tenants apart, on the real process: only the holder of the
 * function's invoke token may invoke it (the probes stay open).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVOKE_TOKEN_HEADER, invokeToken } from '../../api/invoke-token.js';
import { HttpPodClient } from '../../gateway/invoke/pod-client.js';
import { until } from '../support/time.js';
import {
  buildRuntime,
  codeDir,
  RUNTIME_MAIN,
  startRuntime,
  type RuntimeProcessHandle,
} from './runtime-harness.js';

const HANDLER = { 'index.js': 'exports.handler = async (e) => ({ got: e });' };
const TOKEN = 'a1'.repeat(32);

describe('invoke token', () => {
  let rt: RuntimeProcessHandle;
  let secretDir = '';

  beforeAll(async () => {
    secretDir = codeDir({ token: `${TOKEN}\n` });
    rt = await startRuntime({
      files: HANDLER,
      env: { SLUICE_INVOKE_TOKEN_FILE: join(secretDir, 'token') },
    });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it.each<{ name: string; headers: Record<string, string> }>([
    { name: 'no token', headers: {} },
    { name: 'a wrong token', headers: { [INVOKE_TOKEN_HEADER]: 'b2'.repeat(32) } },
    { name: 'the token with a character missing', headers: { [INVOKE_TOKEN_HEADER]: TOKEN.slice(1) } },
  ])('refuses a call with $name: 403, and the handler does not run', async ({ headers }) => {
    const r = await rt.invoke({ n: 1 }, { headers: { 'x-amz-request-id': 'refused-1', ...headers } });
    expect(r.status).toBe(403);
    expect(r.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
    expect(r.text).not.toContain('got');
    expect(rt.functionLines().some((l) => l.includes('refused-1'))).toBe(false);
  });

  it('runs a call with the token', async () => {
    const r = await rt.invoke({ n: 2 }, { headers: { [INVOKE_TOKEN_HEADER]: TOKEN } });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ got: { n: 2 } });
  });

  it('leaves the probes open (kubelet, the gateway’s readiness probe)', async () => {
    for (const path of ['/healthz', '/readyz']) expect((await fetch(rt.url(path))).status).toBe(200);
  });

  it('accepts a rotated token once the file changes, without a restart', async () => {
    const rotated = 'c3'.repeat(32);
    writeFileSync(join(secretDir, 'token'), rotated);
    // Read again at most once a second: polled until it takes, with the same process.
    await until(
      async () => (await rt.invoke({}, { headers: { [INVOKE_TOKEN_HEADER]: rotated } })).status === 200,
      'the rotated token to be accepted',
      5000,
      100,
    );
    expect((await rt.invoke({}, { headers: { [INVOKE_TOKEN_HEADER]: TOKEN } })).status).toBe(403);
  });
});

describe("the gateway's pod client and the controller's token agree", () => {
  const key = Buffer.from('k'.repeat(64));
  let rt: RuntimeProcessHandle;

  beforeAll(async () => {
    // What the controller writes into the function's Secret: the token of team-a/hello.
    const secret = codeDir({ token: invokeToken(key, 'team-a', 'hello') });
    rt = await startRuntime({ files: HANDLER, env: { SLUICE_INVOKE_TOKEN_FILE: join(secret, 'token') } });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  const call = (client: HttpPodClient, fn: { namespace: string; name: string }): Promise<number> =>
    client
      .invoke(`127.0.0.1:${rt.invokePort}`, { body: Buffer.from('{}'), headers: {}, function: fn }, 5000)
      .then((r) => r.status);

  it.each([
    {
      name: 'the same key, this function',
      sign: key,
      fn: { namespace: 'team-a', name: 'hello' },
      status: 200,
    },
    {
      name: 'the same key, another function’s token',
      sign: key,
      fn: { namespace: 'team-a', name: 'other' },
      status: 403,
    },
    {
      name: 'the same name in another namespace',
      sign: key,
      fn: { namespace: 'team-b', name: 'hello' },
      status: 403,
    },
    {
      name: 'another key',
      sign: Buffer.from('x'.repeat(64)),
      fn: { namespace: 'team-a', name: 'hello' },
      status: 403,
    },
  ])('$name → $status', async ({ sign, fn, status }) => {
    const client = new HttpPodClient(undefined, undefined, (ns, name) => invokeToken(sign, ns, name));
    try {
      expect(await call(client, fn)).toBe(status);
    } finally {
      client.close();
    }
  });
});

describe('a missing token file', () => {
  it('stops sluice-runtime with status 2, naming the file, instead of serving unauthenticated', async () => {
    buildRuntime();
    const child = spawn(process.execPath, [RUNTIME_MAIN], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        SLUICE_FUNCTION_NAME: 'hello',
        SLUICE_TASK_ROOT: codeDir(HANDLER),
        SLUICE_INVOKE_HOST: '127.0.0.1',
        SLUICE_INVOKE_PORT: '0',
        SLUICE_METRICS_PORT: '0',
        SLUICE_INVOKE_TOKEN_FILE: '/nonexistent/sluice/token',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(2);
    expect(stderr).toContain('/nonexistent/sluice/token');
  });
});
