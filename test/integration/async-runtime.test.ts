import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpFunctionInvoker } from '../../gateway/async/invoker.js';
import { buildRuntime, startRuntime, type RuntimeProcessHandle } from './runtime-harness.js';
import { NatsServer } from './support/nats.js';
import {
  fnResource,
  metricValue,
  RecordCollector,
  deadLetterRouter,
  serveRouter,
  startPipeline,
  waitFor,
  type RunningPipeline,
} from './support/async-pipeline.js';
import { budget } from '../support/time.js';

// The async pipeline dispatching to the REAL sluice-runtime (its invoke endpoint, the built-in
// Node.js client, user code in a temp dir): function errors, timeouts, the attempt number seen
// by the handler, dead letters, and a redrive once the function is fixed.

const HANDLER = `
const fs = require('fs');
const path = require('path');
exports.handler = async (event, context) => {
  const fixed = fs.existsSync(path.join(process.env.LAMBDA_TASK_ROOT, 'FIXED'));
  if (!fixed && event.n % 5 === 0) throw new Error('cannot handle ' + event.n);
  if (!fixed && event.n === 1) await new Promise((r) => setTimeout(r, 5000));
  const attempt = context.clientContext && context.clientContext.custom.approximateInvokeCount;
  if (event.n === 2 && attempt === 1) throw new Error('the first try of 2 fails');
  return { n: event.n, requestId: context.awsRequestId, attempt };
};
`;

let server: NatsServer;
let rt: RuntimeProcessHandle;
let p: RunningPipeline;
let results: RecordCollector;
const closers: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  buildRuntime();
  server = await NatsServer.start();
  rt = await startRuntime({
    files: { 'index.js': HANDLER },
    timeoutSeconds: 1,
    concurrency: 4,
    functionName: 'rt',
  });
}, budget(180_000));
afterAll(async () => {
  results?.stop();
  for (const c of closers.splice(0)) await c();
  await p?.close().catch(() => undefined);
  await rt?.stop();
  await server?.cleanup();
});

/** Waits of up to 60 s and 30 s (scaled), beside the test's own work. */
const TEST_TIMEOUT = budget(120_000);

describe('with the real runtime', { timeout: TEST_TIMEOUT }, () => {
  it('retries function errors and timeouts, dead-letters them, and redrives them once fixed', async () => {
    p = await startPipeline(server, {
      id: 'rt',
      invoker: new HttpFunctionInvoker({ baseUrl: rt.url('') }),
      functions: [
        fnResource('team-a', 'rt', {
          timeoutSeconds: 1,
          scaling: { maxReplicas: 4 },
          async: { maxRetryAttempts: 1, retryDelaySeconds: 1, onSuccess: 'nats:results.rt.ok' },
        }),
      ],
    });
    results = await RecordCollector.start(await server.connectTenant('team-a'));
    const api = await serveRouter(deadLetterRouter(p.dlq));
    closers.push(() => api.close());
    const ids: string[] = [];
    for (let n = 0; n < 100; n++) {
      const r = await p.acceptor.acceptEvent({
        namespace: 'team-a',
        function: 'rt',
        payload: Buffer.from(JSON.stringify({ n })),
        requestId: `rt-${n}`,
      });
      ids.push(r.requestId);
    }
    const ok = () => results.of('results.rt.ok');
    await waitFor(
      async () => ok().length === 79 && (await p.dlq.count('team-a', 'rt')) === 21,
      60_000,
      () => `${ok().length} ok`,
    );

    for (const r of ok()) {
      const n = (r.requestPayload as { n: number }).n;
      const attempt = n === 2 ? 2 : 1; // event 2 fails once, then succeeds on its retry
      expect(r).toMatchObject({
        requestContext: {
          requestId: ids[n],
          condition: 'Success',
          approximateInvokeCount: attempt,
          functionArn: 'arn:aws:lambda:sluice-local:team-a:function:rt:$LATEST',
        },
        responseContext: { statusCode: 200, executedVersion: '$LATEST' },
        // The handler saw the event's request id and its attempt number.
        responsePayload: { n, requestId: ids[n], attempt },
      });
    }
    const page = await p.dlq.list('team-a', 'rt', { limit: 100 });
    expect(page.items).toHaveLength(21);
    for (const item of page.items) {
      const { record } = await p.dlq.get('team-a', 'rt', item.seq);
      const rec = record as {
        requestPayload: { n: number };
        requestContext: unknown;
        responsePayload: unknown;
      };
      const n = rec.requestPayload.n;
      expect(rec.requestContext).toMatchObject({
        requestId: ids[n],
        condition: 'RetriesExhausted',
        approximateInvokeCount: 2,
      });
      if (n === 1) {
        expect(rec.responsePayload).toMatchObject({ errorType: 'Sandbox.Timedout' });
        expect((rec.responsePayload as { errorMessage: string }).errorMessage).toMatch(
          /Task timed out after 1\.00 seconds/,
        );
      } else {
        expect(rec.responsePayload).toMatchObject({ errorType: 'Error', errorMessage: `cannot handle ${n}` });
      }
    }
    // The runtime logged a START line for every attempt: 79 + 1 retry of event 2 + 2 × 21.
    expect(rt.functionLines().filter((l) => l.startsWith('START RequestId:'))).toHaveLength(79 + 1 + 42);
    expect(
      await metricValue(p.registry, 'sluice_invocations_total', { type: 'async', outcome: 'timeout' }),
    ).toBe(2);

    // Fix the function and redrive every dead letter through the API.
    writeFileSync(path.join(rt.taskRoot, 'FIXED'), 'yes');
    const res = await fetch(`${api.url}/sluice/v1/namespaces/team-a/functions/rt/dead-letters/redrive`, {
      method: 'POST',
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { redriven: unknown[]; failed: unknown[] };
    expect(body.redriven).toHaveLength(21);
    await waitFor(
      () => ok().length === 100,
      30_000,
      () => `${ok().length} ok`,
    );
    const redriven = ok().slice(79);
    expect(new Set(redriven.map((r) => r.requestContext.requestId)).size).toBe(21);
    for (const r of redriven) {
      expect(r.requestContext).toMatchObject({ condition: 'Success', approximateInvokeCount: 1 });
      expect(r.responsePayload).toMatchObject({ attempt: 1, requestId: r.requestContext.requestId });
    }
    expect(await p.dlq.count('team-a', 'rt')).toBe(0);
  });
});
