import { describe, expect, it } from 'vitest';
import {
  billedDurationMs,
  endLine,
  exitError,
  exitReason,
  functionArn,
  isValidQualifier,
  logStreamName,
  reportLine,
  startLine,
  tailLogResult,
  timeoutError,
  timeoutLogLine,
  traceHeaderFromTraceparent,
} from './format.js';

describe('functionArn', () => {
  it.each([
    { name: 'unqualified', qualifier: undefined, want: 'arn:aws:lambda:sluice:shop:function:resize' },
    { name: 'alias', qualifier: 'prod', want: 'arn:aws:lambda:sluice:shop:function:resize:prod' },
    { name: 'version', qualifier: '3', want: 'arn:aws:lambda:sluice:shop:function:resize:3' },
    { name: '$LATEST', qualifier: '$LATEST', want: 'arn:aws:lambda:sluice:shop:function:resize:$LATEST' },
  ])('$name', ({ qualifier, want }) => {
    expect(functionArn({ region: 'sluice', namespace: 'shop', name: 'resize', qualifier })).toBe(want);
  });
});

describe('isValidQualifier', () => {
  it.each([
    { name: 'alias', q: 'prod', ok: true },
    { name: 'version', q: '12', ok: true },
    { name: '$LATEST', q: '$LATEST', ok: true },
    { name: 'dash and underscore', q: 'blue-green_2', ok: true },
    { name: 'slash', q: 'a/b', ok: false },
    { name: 'empty', q: '', ok: false },
    { name: 'too long', q: 'a'.repeat(129), ok: false },
  ])('$name', ({ q, ok }) => expect(isValidQualifier(q)).toBe(ok));
});

describe('platform log lines', () => {
  it.each([
    { name: 'START', got: startLine('abc-1', '$LATEST'), want: 'START RequestId: abc-1 Version: $LATEST' },
    { name: 'START of a version', got: startLine('abc-1', '7'), want: 'START RequestId: abc-1 Version: 7' },
    { name: 'END', got: endLine('abc-1'), want: 'END RequestId: abc-1' },
    {
      name: 'REPORT on a cold start',
      got: reportLine({
        requestId: 'abc-1',
        durationMs: 128.834,
        memorySizeMB: 128,
        maxMemoryUsedMB: 74,
        initDurationMs: 166.618,
      }),
      want: 'REPORT RequestId: abc-1\tDuration: 128.83 ms\tBilled Duration: 129 ms\tMemory Size: 128 MB\tMax Memory Used: 74 MB\tInit Duration: 166.62 ms\t',
    },
    {
      name: 'REPORT on a warm start',
      got: reportLine({ requestId: 'abc-2', durationMs: 2.001, memorySizeMB: 1024, maxMemoryUsedMB: 80 }),
      want: 'REPORT RequestId: abc-2\tDuration: 2.00 ms\tBilled Duration: 2 ms\tMemory Size: 1024 MB\tMax Memory Used: 80 MB\t',
    },
    {
      name: 'timeout line',
      got: timeoutLogLine('abc-3', 3, new Date('2025-01-02T03:04:05.678Z')),
      want: '2025-01-02T03:04:05.678Z abc-3 Task timed out after 3.00 seconds',
    },
  ])('$name', ({ got, want }) => expect(got).toBe(want));

  it.each([
    { name: 'sub-millisecond', ms: 0.2, want: 1 },
    { name: 'exact', ms: 5, want: 5 },
    { name: 'rounds up', ms: 5.01, want: 6 },
    { name: 'as displayed (5.001 shows 5.00)', ms: 5.001, want: 5 },
  ])('billed duration: $name', ({ ms, want }) => expect(billedDurationMs(ms)).toBe(want));
});

describe('error bodies', () => {
  it.each([
    {
      name: 'timeout',
      got: timeoutError('r-1', 1),
      want: {
        errorType: 'Sandbox.Timedout',
        errorMessage: 'RequestId: r-1 Error: Task timed out after 1.00 seconds',
      },
    },
    {
      name: 'killed (out of memory)',
      got: exitError('r-2', exitReason(null, 'SIGKILL')),
      want: {
        errorType: 'Runtime.ExitError',
        errorMessage: 'RequestId: r-2 Error: Runtime exited with error: signal: killed',
      },
    },
    {
      name: 'exit status',
      got: exitError('r-3', exitReason(1, null)),
      want: {
        errorType: 'Runtime.ExitError',
        errorMessage: 'RequestId: r-3 Error: Runtime exited with error: exit status 1',
      },
    },
    {
      name: 'abort',
      got: exitError('r-4', exitReason(null, 'SIGABRT')),
      want: {
        errorType: 'Runtime.ExitError',
        errorMessage: 'RequestId: r-4 Error: Runtime exited with error: signal: aborted',
      },
    },
    {
      name: 'exit status 0',
      got: exitError('r-5', exitReason(0, null)),
      want: {
        errorType: 'Runtime.ExitError',
        errorMessage: 'RequestId: r-5 Error: Runtime exited without providing a reason',
      },
    },
  ])('$name', ({ got, want }) => expect(got).toEqual(want));
});

describe('traceHeaderFromTraceparent', () => {
  it.each([
    {
      name: 'sampled',
      tp: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      want: 'Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1',
    },
    {
      name: 'not sampled',
      tp: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00',
      want: 'Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=0',
    },
    {
      name: 'all-zero trace id',
      tp: '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      want: undefined,
    },
    { name: 'garbage', tp: 'hello', want: undefined },
    { name: 'version ff', tp: 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', want: undefined },
  ])('$name', ({ tp, want }) => expect(traceHeaderFromTraceparent(tp)).toBe(want));
});

describe('tailLogResult', () => {
  it.each([
    { name: 'short log whole', log: 'START\nEND\n', want: 'START\nEND\n' },
    {
      name: 'long log: last 4096 bytes',
      log: 'a'.repeat(5000) + 'b'.repeat(96),
      want: 'a'.repeat(4000) + 'b'.repeat(96),
    },
  ])('$name', ({ log, want }) => {
    expect(Buffer.from(tailLogResult(Buffer.from(log)), 'base64').toString()).toBe(want);
  });
});

it('logStreamName has the date, the version and the instance', () => {
  expect(logStreamName('$LATEST', 'pod-abc', new Date('2025-03-04T05:06:07Z'))).toBe(
    '2025/03/04/[$LATEST]pod-abc',
  );
});
