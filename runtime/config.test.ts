import { describe, expect, it } from 'vitest';
import { parseConfig, ConfigError } from '../lib/index.js';
import { invokedArn, resolveSettings, runtimeSpec } from './config.js';
import { functionProcessEnv, nodeMemoryArgs } from './process.js';

function settings(env: Record<string, string | undefined>, argv: string[] = []) {
  return resolveSettings(parseConfig(runtimeSpec, argv, env), env, new Date('2025-01-02T00:00:00Z'));
}

describe('resolveSettings', () => {
  it.each([
    { name: 'function name missing', env: {}, error: /SLUICE_FUNCTION_NAME .* is required/ },
    {
      name: 'provided with a pool',
      env: { SLUICE_FUNCTION_NAME: 'f', SLUICE_RUNTIME: 'provided', SLUICE_CONCURRENCY: '2' },
      error: /--concurrency 2 is invalid for runtime provided/,
    },
    {
      name: 'runtime API ports beyond 65535',
      env: { SLUICE_FUNCTION_NAME: 'f', SLUICE_RUNTIME_API: '127.0.0.1:65535', SLUICE_CONCURRENCY: '2' },
      error: /ports 65535\.\.65536 are invalid/,
    },
  ])('rejects $name', ({ env, error }) => {
    expect(() => settings(env)).toThrow(ConfigError);
    expect(() => settings(env)).toThrow(error);
  });

  it.each([
    {
      name: 'memory below 128',
      env: { SLUICE_MEMORY_MB: '64' },
      error: /SLUICE_MEMORY_MB: "64" is invalid; expected an integer in 128\.\.10240/,
    },
    {
      name: 'timeout above 900',
      env: { SLUICE_TIMEOUT_SECONDS: '901' },
      error: /expected an integer in 1\.\.900/,
    },
    {
      name: 'unknown runtime',
      env: { SLUICE_RUNTIME: 'python3.12' },
      error: /allowed values: nodejs22, nodejs24, provided/,
    },
    {
      name: 'bad version',
      env: { SLUICE_FUNCTION_VERSION: 'v1' },
      error: /expected \$LATEST or a version number/,
    },
  ])('config rejects $name', ({ env, error }) => {
    expect(() => parseConfig(runtimeSpec, [], { SLUICE_FUNCTION_NAME: 'f', ...env })).toThrow(error);
  });

  it('derives log names, the runtime API address and the function environment', () => {
    const s = settings({
      SLUICE_FUNCTION_NAME: 'resize',
      SLUICE_FUNCTION_NAMESPACE: 'media',
      SLUICE_FUNCTION_VERSION: '4',
      SLUICE_RUNTIME_API: '127.0.0.1:9100',
      HOSTNAME: 'resize-4-abc',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      BUCKET: 'images',
      AWS_LAMBDA_FUNCTION_NAME: 'spoofed',
    });
    expect(s).toMatchObject({
      runtimeApiHost: '127.0.0.1',
      runtimeApiPort: 9100,
      logGroupName: '/sluice/media/resize',
      logStreamName: '2025/01/02/[4]resize-4-abc',
    });
    expect(s.functionEnv).toEqual({
      HOSTNAME: 'resize-4-abc',
      BUCKET: 'images',
      AWS_LAMBDA_FUNCTION_NAME: 'spoofed',
    });
    const env = functionProcessEnv(s, '127.0.0.1:9100');
    expect(env).toMatchObject({
      BUCKET: 'images',
      AWS_LAMBDA_FUNCTION_NAME: 'resize',
      AWS_LAMBDA_FUNCTION_VERSION: '4',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
      AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9100',
      LAMBDA_TASK_ROOT: '/var/task',
      _HANDLER: 'index.handler',
      TZ: ':UTC',
      AWS_REGION: 'sluice',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    });
    expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
  });

  it('gives the handler the SLUICE_ENV_* variables under their own names; sluice-runtime keeps none of them', () => {
    const s = settings({
      SLUICE_FUNCTION_NAME: 'f',
      SLUICE_ENV_NODE_OPTIONS: '--enable-source-maps',
      SLUICE_ENV_BUCKET: 'images',
      SLUICE_ENV_: 'no name',
    });
    expect(s.functionEnv).toEqual({ NODE_OPTIONS: '--enable-source-maps', BUCKET: 'images' });
    expect(functionProcessEnv(s, '127.0.0.1:9001')).toMatchObject({
      NODE_OPTIONS: '--enable-source-maps',
      BUCKET: 'images',
    });
  });

  it.each([
    { name: 'Lambda reserved name', key: 'AWS_LAMBDA_LOG_LEVEL', value: 'DEBUG' },
    { name: 'trace header', key: '_X_AMZN_TRACE_ID', value: 'Root=1-spoofed' },
    { name: 'execution-role credentials', key: 'AWS_SECRET_ACCESS_KEY', value: 'stolen' },
    { name: 'runtime setting', key: 'LAMBDA_RUNTIME_DIR', value: '/tmp/evil' },
  ])('never passes a reserved variable of the function through: $name', ({ key, value }) => {
    const s = settings({ SLUICE_FUNCTION_NAME: 'f', [`SLUICE_ENV_${key}`]: value, [key]: value });
    expect(functionProcessEnv(s, '127.0.0.1:9001')[key]).not.toBe(value);
  });

  it('sets no AWS_EXECUTION_ENV for provided', () => {
    const s = settings({ SLUICE_FUNCTION_NAME: 'f', SLUICE_RUNTIME: 'provided' });
    expect(functionProcessEnv(s, '127.0.0.1:9001').AWS_EXECUTION_ENV).toBeUndefined();
  });
});

describe('invokedArn', () => {
  it.each([
    { name: 'unqualified', q: undefined, want: 'arn:aws:lambda:sluice:team:function:f' },
    { name: 'alias', q: 'live', want: 'arn:aws:lambda:sluice:team:function:f:live' },
  ])('$name', ({ q, want }) => {
    const s = settings({ SLUICE_FUNCTION_NAME: 'f', SLUICE_FUNCTION_NAMESPACE: 'team' });
    expect(invokedArn(s, q)).toBe(want);
  });
  it('uses the configured region', () => {
    const s = settings({ SLUICE_FUNCTION_NAME: 'f', SLUICE_REGION: 'eu-west-1' });
    expect(invokedArn(s, undefined)).toBe('arn:aws:lambda:eu-west-1:default:function:f');
  });
});

describe('nodeMemoryArgs', () => {
  it.each([
    { name: '128 MB', mb: 128, want: ['--max-semi-space-size=1', '--max-old-space-size=126'] },
    { name: '1024 MB', mb: 1024, want: ['--max-semi-space-size=8', '--max-old-space-size=1008'] },
    { name: '10240 MB', mb: 10240, want: ['--max-semi-space-size=80', '--max-old-space-size=10080'] },
  ])('$name', ({ mb, want }) => expect(nodeMemoryArgs(mb)).toEqual(want));
});
