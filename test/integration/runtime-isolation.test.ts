/**
 * sluice-runtime's part in keeping tenants apart, on the real process: only the holder of the
 * function's invoke token may invoke it (the probes stay open).
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVOKE_TOKEN_HEADER, invokeToken } from '../../api/invoke-token.js';
import { HttpPodClient } from '../../gateway/invoke/pod-client.js';
import { startPolicyCanary } from '../../gateway/policy-canary.js';
import { netConnector } from '../../runtime/policy-wait.js';
import { until } from '../support/time.js';
import {
  buildRuntime,
  codeDir,
  freePort,
  reportOf,
  RUNTIME_MAIN,
  RuntimeProcessHandle,
  startRuntime,
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

describe('policy before code', () => {
  /** sluice-runtime with a canary and a control listener on loopback, started without waiting for it. */
  async function startGated(
    env: Record<string, string>,
  ): Promise<{ rt: RuntimeProcessHandle; mark: string }> {
    buildRuntime();
    const dir = codeDir({
      // User code that runs at load: it leaves a mark.
      'index.js': "require('fs').writeFileSync(process.env.MARK, 'ran'); exports.handler = async () => 'ok';",
    });
    const mark = join(dir, 'ran');
    const [invokePort, runtimeApiPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    const child = spawn(process.execPath, [RUNTIME_MAIN], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        SLUICE_FUNCTION_NAME: 'gated',
        SLUICE_TASK_ROOT: dir,
        SLUICE_RUNTIME_API: `127.0.0.1:${runtimeApiPort}`,
        SLUICE_INVOKE_HOST: '127.0.0.1',
        SLUICE_INVOKE_PORT: String(invokePort),
        SLUICE_METRICS_PORT: String(metricsPort),
        SLUICE_SHUTDOWN_GRACE_SECONDS: '2',
        MARK: mark,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { rt: new RuntimeProcessHandle(child, invokePort, runtimeApiPort, metricsPort, dir), mark };
  }

  const listening = (port: number): Promise<boolean> =>
    netConnector.probe('127.0.0.1', port, 1000).then((r) => r === 'connected');

  it('runs no function code and serves nothing while the canary answers; goes on once it is refused', async () => {
    const canary = await startPolicyCanary(0, '127.0.0.1');
    const control = await startPolicyCanary(0, '127.0.0.1');
    const { rt, mark } = await startGated({
      SLUICE_POLICY_CANARY: `127.0.0.1:${canary.port}`,
      SLUICE_POLICY_CONTROL_PORT: String(control.port),
    });
    try {
      await rt.waitForLine(/waiting for the NetworkPolicy of this pod/);
      // Still waiting: no user code ran, nothing listens (a custom runtime's container, started
      // after the sidecar's /healthz, would not have started either).
      expect(existsSync(mark)).toBe(false);
      expect(await listening(rt.invokePort)).toBe(false);
      expect(await listening(rt.runtimeApiPort)).toBe(false);
      expect(existsSync(mark)).toBe(false);

      await canary.close(); // the policy "comes into force": the canary is refused
      await rt.waitReady();
      expect(existsSync(mark)).toBe(true);
      await rt.waitForLine(/NetworkPolicy in force/);

      // The wait is reported: a metric, and part of the first Init Duration.
      const r = await rt.invoke({}, { headers: { 'x-amz-request-id': 'gated-1' } });
      expect(r.status).toBe(200);
      const report = await reportOf(rt, 'gated-1');
      const init = Number(/Init Duration: ([\d.]+) ms/.exec(report)?.[1]);
      const metrics = await (await fetch(`http://127.0.0.1:${rt.metricsPort}/metrics`)).text();
      const count = /sluice_policy_wait_seconds_count\{[^}]*result="enforced"[^}]*\} (\d+)/.exec(
        metrics,
      )?.[1];
      const sum = Number(
        /sluice_policy_wait_seconds_sum\{[^}]*result="enforced"[^}]*\} ([\d.e-]+)/.exec(metrics)?.[1],
      );
      expect(count).toBe('1');
      expect(sum).toBeGreaterThan(0);
      expect(init).toBeGreaterThanOrEqual(Math.floor(sum * 1000));
    } finally {
      await rt.stop();
      await control.close();
    }
  });

  it('exits with status 3 and says why when the policy never comes into force, having run nothing', async () => {
    const canary = await startPolicyCanary(0, '127.0.0.1');
    const control = await startPolicyCanary(0, '127.0.0.1');
    let stderr = '';
    const { rt, mark } = await startGated({
      SLUICE_POLICY_CANARY: `127.0.0.1:${canary.port}`,
      SLUICE_POLICY_CONTROL_PORT: String(control.port),
      SLUICE_POLICY_WAIT_SECONDS: '1',
    });
    rt.child.stderr?.on('data', (c: string) => (stderr += c));
    try {
      expect(await rt.exited).toBe(3);
      expect(stderr).toContain("the pod's NetworkPolicy was not in force after 1 s");
      expect(existsSync(mark)).toBe(false);
    } finally {
      await rt.stop();
      await Promise.all([canary.close(), control.close()]);
    }
  });
});
