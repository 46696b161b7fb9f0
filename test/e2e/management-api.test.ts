/**
 * Lambda's management API through the unmodified AWS CLI (issue 17, the slice built so far):
 * bare function names in the caller's account, update-function-configuration followed by
 * `aws lambda wait function-updated`, publish-version, create-alias and update-alias
 * --routing-config, list-functions paginated one per page — and after each step kubectl shows the
 * same state (the CRDs are the source of truth).
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { AliasResource, FunctionResource, FunctionVersionResource } from '../../api/types.js';
import { buildZip } from '../support/zip-craft.js';
import { createAccessKey, forwardGateway, type AccessKey, type Forward } from './support/gateway.js';
import { apply, createNamespace, dumpNamespace, kubectl, script } from './support/kube.js';

const run = promisify(execFile);
const HANDLER = `exports.handler = async (event, context) => ({ tag: process.env.TAG ?? null, version: context.functionVersion, echo: event });`;

describe('the Lambda management API through the AWS CLI', () => {
  let ns = '';
  let removeNs: () => Promise<void> = () => Promise.resolve();
  let gw: Forward;
  let key: AccessKey | undefined;
  let aws = '';
  let zipFile = '';
  const dumpOnFailure = (): void => onTestFailed(() => dumpNamespace(ns));

  const cli = async (args: string[]): Promise<any> => {
    const { stdout } = await run(aws, ['lambda', ...args, '--endpoint-url', gw.base, '--output', 'json'], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        AWS_ACCESS_KEY_ID: key?.accessKeyId ?? '',
        AWS_SECRET_ACCESS_KEY: key?.secretAccessKey ?? '',
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_PAGER: '',
        AWS_MAX_ATTEMPTS: '1',
      },
      maxBuffer: 16 << 20,
    });
    return stdout.trim() ? JSON.parse(stdout) : {};
  };
  const kube = async <T>(kind: string, name: string): Promise<T | undefined> => {
    const r = await kubectl(['-n', ns, 'get', kind, name, '-o', 'json']);
    return r.code === 0 ? (JSON.parse(r.stdout) as T) : undefined;
  };
  const invoke = async (fn: string, qualifier?: string): Promise<any> => {
    const out = join('/tmp', `sluice-e2e-mgmt-${process.pid}-${Date.now()}.json`);
    await cli([
      'invoke',
      '--function-name',
      fn,
      ...(qualifier ? ['--qualifier', qualifier] : []),
      '--payload',
      '{}',
      out,
    ]);
    return JSON.parse(readFileSync(out, 'utf8'));
  };

  beforeAll(async () => {
    const created = await createNamespace('e2e-mgmt');
    ns = created.name;
    removeNs = created.remove;
    gw = await forwardGateway();
    aws = (await script('test/cluster/awscli.sh', [])).trim().split('\n').pop() ?? '';
    await apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ci', namespace: ns } });
    await apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'ci-edit', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      subjects: [{ kind: 'ServiceAccount', name: 'ci', namespace: ns }],
    });
    key = await createAccessKey(`serviceaccount:${ns}:ci`);
    zipFile = join('/tmp', `sluice-e2e-mgmt-${process.pid}.zip`);
    writeFileSync(zipFile, await buildZip([{ name: 'index.js', data: HANDLER }]));
  });

  afterAll(async () => {
    await key?.remove();
    await gw?.stop();
    await removeNs();
  });

  it('bare names in the caller’s namespace: create, update-function-configuration + wait function-updated, publish-version, aliases with routing, list-functions one per page', async () => {
    dumpOnFailure();
    // A bare name: the caller is ServiceAccount ci of the test namespace, so that is its account.
    for (const name of ['app', 'app2', 'app3']) {
      await cli([
        'create-function',
        '--function-name',
        name,
        '--runtime',
        'nodejs22.x',
        '--handler',
        'index.handler',
        '--role',
        `arn:aws:iam::${ns}:role/default`,
        '--zip-file',
        `fileb://${zipFile}`,
      ]);
      expect((await kube<FunctionResource>('fn', name))?.metadata.namespace).toBe(ns);
    }
    await cli(['wait', 'function-active', '--function-name', 'app']);

    // update-function-configuration, then the CLI's waiter until LastUpdateStatus is Successful.
    const updated = await cli([
      'update-function-configuration',
      '--function-name',
      'app',
      '--environment',
      'Variables={TAG=two}',
      '--timeout',
      '7',
    ]);
    expect(updated).toMatchObject({
      FunctionName: 'app',
      Timeout: 7,
      Environment: { Variables: { TAG: 'two' } },
    });
    const fn = await kube<FunctionResource>('fn', 'app');
    expect(fn?.spec.environment).toEqual({ TAG: 'two' });
    expect(fn?.spec.timeoutSeconds).toBe(7);
    // A stale RevisionId (the object's resourceVersion moved on): 412.
    const stale = await cli([
      'update-function-configuration',
      '--function-name',
      'app',
      '--timeout',
      '8',
      '--revision-id',
      '1',
    ]).catch((e: Error) => e);
    expect(String(stale)).toContain('PreconditionFailedException');
    expect((await kube<FunctionResource>('fn', 'app'))?.spec.timeoutSeconds).toBe(7);
    await cli(['wait', 'function-updated', '--function-name', 'app']);
    const conf = await cli(['get-function-configuration', '--function-name', 'app']);
    expect(conf).toMatchObject({ State: 'Active', LastUpdateStatus: 'Successful' });
    expect(await invoke('app')).toMatchObject({ tag: 'two', version: '$LATEST' });

    // publish-version 1 (TAG=two), then TAG=three and version 2.
    const v1 = await cli(['publish-version', '--function-name', 'app']);
    expect(v1.Version).toBe('1');
    expect((await kube<FunctionVersionResource>('fnv', 'app-v1'))?.spec.snapshot.environment).toEqual({
      TAG: 'two',
    });
    await cli([
      'update-function-configuration',
      '--function-name',
      'app',
      '--environment',
      'Variables={TAG=three}',
    ]);
    await cli(['wait', 'function-updated', '--function-name', 'app']);
    const v2 = await cli(['publish-version', '--function-name', 'app']);
    expect(v2.Version).toBe('2');
    const versions = await cli(['list-versions-by-function', '--function-name', 'app']);
    expect(versions.Versions.map((v: { Version: string }) => v.Version)).toEqual(['$LATEST', '1', '2']);

    // create-alias live → 1, then update-alias --routing-config: half to 2.
    const alias = await cli([
      'create-alias',
      '--function-name',
      'app',
      '--name',
      'live',
      '--function-version',
      '1',
    ]);
    expect(alias).toMatchObject({ Name: 'live', FunctionVersion: '1' });
    const aliases = async (): Promise<AliasResource[]> => {
      const r = await kubectl(['-n', ns, 'get', 'alias', '-o', 'json']);
      return (JSON.parse(r.stdout) as { items: AliasResource[] }).items;
    };
    expect((await aliases()).map((a) => a.spec)).toEqual([
      expect.objectContaining({ function: 'app', version: '1' }),
    ]);
    expect(await invoke('app', 'live')).toMatchObject({ tag: 'two', version: '1' });
    const routed = await cli([
      'update-alias',
      '--function-name',
      'app',
      '--name',
      'live',
      '--routing-config',
      '{"AdditionalVersionWeights":{"2":0.5}}',
    ]);
    expect(routed.RoutingConfig).toEqual({ AdditionalVersionWeights: { '2': 0.5 } });
    expect(JSON.stringify((await aliases())[0]?.spec)).toContain('"2"');
    const seen = new Set<string>();
    for (let i = 0; i < 30 && seen.size < 2; i++) seen.add((await invoke('app', 'live')).version as string);
    expect([...seen].sort()).toEqual(['1', '2']);
    const got = await cli(['get-alias', '--function-name', 'app', '--name', 'live']);
    expect(got).toMatchObject({
      Name: 'live',
      FunctionVersion: '1',
      RoutingConfig: { AdditionalVersionWeights: { '2': 0.5 } },
    });

    // list-functions, one function per page (the CLI follows NextMarker): the caller's three.
    const listed = await cli(['list-functions', '--page-size', '1']);
    expect(listed.Functions.map((f: { FunctionName: string }) => f.FunctionName).sort()).toEqual([
      'app',
      'app2',
      'app3',
    ]);
    const r = await kubectl(['-n', ns, 'get', 'fn', '-o', 'jsonpath={.items[*].metadata.name}']);
    expect(r.stdout.split(' ').sort()).toEqual(['app', 'app2', 'app3']);
  });
});
