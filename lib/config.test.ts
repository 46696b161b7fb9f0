import { describe, expect, it } from 'vitest';
import { parseConfig, configHelp, type ConfigSpec } from './config.js';
import { ConfigError } from './errors.js';

const spec = {
  port: {
    type: 'int',
    env: 'PORT',
    flag: 'port',
    min: 1,
    max: 65535,
    default: 8080,
    description: 'listen port',
  },
  natsUrl: { type: 'url', env: 'NATS_URL', flag: 'nats-url', description: 'NATS server' },
  mode: {
    type: 'enum',
    env: 'MODE',
    flag: 'mode',
    values: ['sync', 'async'] as const,
    default: 'sync',
    description: 'mode',
  },
  debug: { type: 'bool', env: 'DEBUG', flag: 'debug', default: false, description: 'debug' },
  namespace: {
    type: 'string',
    env: 'NS',
    flag: 'namespace',
    default: 'default',
    pattern: /^[a-z0-9-]+$/,
    patternHint: 'a DNS label',
    description: 'namespace',
  },
} as const satisfies ConfigSpec;

type Row = { name: string; argv: string[]; env: Record<string, string>; want: Record<string, unknown> };

describe('parseConfig', () => {
  it.each<Row>([
    {
      name: 'defaults when nothing is set',
      argv: [],
      env: {},
      want: { port: 8080, natsUrl: undefined, mode: 'sync', debug: false, namespace: 'default' },
    },
    {
      name: 'environment variables',
      argv: [],
      env: { PORT: '9000', NATS_URL: 'nats://127.0.0.1:4222', MODE: 'async', DEBUG: 'true' },
      want: { port: 9000, natsUrl: 'nats://127.0.0.1:4222', mode: 'async', debug: true },
    },
    {
      name: 'a flag wins over its variable',
      argv: ['--port', '7000'],
      env: { PORT: '9000' },
      want: { port: 7000 },
    },
    { name: 'flag with = form', argv: ['--mode=async'], env: {}, want: { mode: 'async' } },
    { name: 'boolean flag', argv: ['--debug'], env: {}, want: { debug: true } },
    { name: 'empty variable means unset', argv: [], env: { PORT: '' }, want: { port: 8080 } },
    { name: 'bool words', argv: [], env: { DEBUG: 'off' }, want: { debug: false } },
  ])('$name', ({ argv, env, want }) => {
    expect(parseConfig(spec, argv, env)).toMatchObject(want);
  });

  it.each([
    {
      name: 'integer out of range',
      argv: [],
      env: { PORT: '70000' },
      message: 'environment variable PORT: "70000" is invalid; expected an integer in 1..65535',
    },
    {
      name: 'not an integer',
      argv: ['--port', '80x'],
      env: {},
      message: 'flag --port: "80x" is invalid; expected an integer in 1..65535',
    },
    {
      name: 'fractional integer',
      argv: [],
      env: { PORT: '80.5' },
      message: 'expected an integer in 1..65535',
    },
    {
      name: 'enum value not allowed',
      argv: [],
      env: { MODE: 'batch' },
      message: 'environment variable MODE: "batch" is invalid; allowed values: sync, async',
    },
    { name: 'bad boolean', argv: [], env: { DEBUG: 'maybe' }, message: 'expected true or false' },
    {
      name: 'bad URL',
      argv: [],
      env: { NATS_URL: 'not a url' },
      message: 'environment variable NATS_URL: "not a url" is not a valid URL',
    },
    {
      name: 'pattern mismatch',
      argv: ['--namespace', 'Bad_NS'],
      env: {},
      message: 'flag --namespace: "Bad_NS" is invalid; expected a DNS label',
    },
    {
      name: 'unknown flag',
      argv: ['--nope'],
      env: {},
      message: 'known flags: --port, --nats-url, --mode, --debug, --namespace',
    },
  ])('rejects $name with a clear ConfigError', ({ argv, env, message }) => {
    let err: unknown;
    try {
      parseConfig(spec, argv, env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).name).toBe('ConfigError');
    expect((err as ConfigError).message).toContain(message);
  });

  it('renders help naming every flag, variable and allowed value', () => {
    const help = configHelp('sluice-test', spec);
    for (const s of ['--port', 'PORT', '--nats-url', 'NATS_URL', '(sync|async)', '[default: 8080]']) {
      expect(help).toContain(s);
    }
  });
});
