/**
 * Zip packages the Lambda way (issue 16, "What must show"): the unmodified AWS CLI (awscli from
 * PyPI, test/cluster/awscli.sh) against the gateway with a Sluice access key creates a function
 * from a zip whose node_modules holds a real dependency, invokes it, updates its code, downloads
 * Code.Location (same SHA-256), publishes a layer used from /opt, and deletes the function — and
 * after each step `kubectl get fn,fnv` shows the same state. The AWS SDK covers the refusals (zip
 * slip, absolute paths, a zip bomb, a 51 MB upload, an unknown runtime, a caller without RBAC),
 * and a Rust function built here with lambda_runtime runs from a zip (`bootstrap`) and from a
 * layer (`/opt/bootstrap`) under a data-only zip.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { CreateFunctionCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { FunctionResource, FunctionVersionResource, LayerVersionResource } from '../../api/types.js';
import { buildZip, craftZip, deflatedZeros, type BuildEntry } from '../support/zip-craft.js';
import {
  createAccessKey,
  forwardGateway,
  lambdaClient,
  waitReady,
  waitUpdated,
  type AccessKey,
  type Forward,
} from './support/gateway.js';
import { apply, createNamespace, dumpNamespace, kubectl, script, waitFor } from './support/kube.js';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const sha256b64 = (b: Buffer): string => createHash('sha256').update(b).digest('base64');

/** Every file of a directory as zip entries under `prefix`. */
function dirEntries(dir: string, prefix: string): BuildEntry[] {
  const out: BuildEntry[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push({ name: `${prefix}/${relative(dir, p)}`, data: readFileSync(p) });
    }
  };
  walk(dir);
  return out;
}

// The function's own dependency: the `yaml` package from this repository's node_modules.
const HANDLER_V1 = `
const YAML = require('yaml');
exports.handler = async (event) => ({ v: 1, yaml: YAML.stringify(event), yamlVersion: require('yaml/package.json').version });
`;
const HANDLER_V2 = `
const YAML = require('yaml');
const shared = (() => { try { return require('shared-layer'); } catch (e) { return 'no layer: ' + e.code; } })();
exports.handler = async (event) => ({ v: 2, doc: YAML.parse(event.doc), shared });
`;

describe('zip packages through the AWS CLI and the SDK', () => {
  let ns = '';
  let removeNs: () => Promise<void> = () => Promise.resolve();
  let gw: Forward;
  let key: AccessKey | undefined;
  let aws = '';
  let sdk: LambdaClient;
  const dumpOnFailure = (): void => onTestFailed(() => dumpNamespace(ns));

  /** `aws lambda ...` as a user would type it, with a Sluice access key; JSON output parsed. */
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
      maxBuffer: 64 << 20,
      cwd: ROOT,
    });
    return stdout.trim() ? JSON.parse(stdout) : {};
  };
  const fnArn = (name: string): string => `${ns}:function:${name}`;
  const kube = async <T>(kind: string, name: string): Promise<T | undefined> => {
    const r = await kubectl(['-n', ns, 'get', kind, name, '-o', 'json']);
    return r.code === 0 ? (JSON.parse(r.stdout) as T) : undefined;
  };
  const versionsOf = async (fn: string): Promise<FunctionVersionResource[]> => {
    const r = await kubectl(['-n', ns, 'get', 'fnv', '-l', `sluice.dev/function=${fn}`, '-o', 'json']);
    return (JSON.parse(r.stdout) as { items: FunctionVersionResource[] }).items;
  };
  const invokeCli = async (name: string, event: unknown): Promise<any> => {
    const out = join('/tmp', `sluice-e2e-out-${process.pid}-${Date.now()}.json`);
    const meta = await cli([
      'invoke',
      '--function-name',
      fnArn(name),
      // AWS CLI v1 sends --payload as it is (v2 would need --cli-binary-format raw-in-base64-out).
      '--payload',
      JSON.stringify(event),
      out,
    ]);
    return { meta, body: JSON.parse(readFileSync(out, 'utf8')) };
  };

  beforeAll(async () => {
    const created = await createNamespace('e2e-pkg');
    ns = created.name;
    removeNs = created.remove;
    gw = await forwardGateway();
    aws = (await script('test/cluster/awscli.sh', [])).trim().split('\n').pop() ?? '';
    // The CLI's principal: ServiceAccount ci of the namespace with the namespace's `edit` role.
    await apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ci', namespace: ns } });
    await apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'ci-edit', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      subjects: [{ kind: 'ServiceAccount', name: 'ci', namespace: ns }],
    });
    // The execution role the functions run as (Role arn:aws:iam::NS:role/runner), opted in.
    await apply({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'runner', namespace: ns, annotations: { 'sluice.dev/execution-role': 'true' } },
    });
    key = await createAccessKey(`serviceaccount:${ns}:ci`);
    sdk = lambdaClient(gw.base, key);
  });

  afterAll(async () => {
    await key?.remove();
    await gw?.stop();
    await removeNs();
  });

  it('aws lambda: create from a zip with node_modules, invoke, update the code, download Code.Location, a layer from /opt, delete — kubectl shows the same after each step', async () => {
    dumpOnFailure();
    const name = 'yamlfn';
    const dep = dirEntries(join(ROOT, 'node_modules/yaml'), 'node_modules/yaml');
    const zip1 = await buildZip([{ name: 'index.js', data: HANDLER_V1 }, ...dep]);
    const zip2 = await buildZip([{ name: 'index.js', data: HANDLER_V2 }, ...dep]);
    const layerZip = await buildZip([
      { name: 'nodejs/node_modules/shared-layer/index.js', data: "module.exports = 'from /opt';" },
    ]);
    const { writeFileSync } = await import('node:fs');
    const file = (n: string, b: Buffer): string => {
      const p = join('/tmp', `sluice-e2e-${process.pid}-${n}`);
      writeFileSync(p, b);
      return p;
    };

    // 1. create-function --zip-file
    const created = await cli([
      'create-function',
      '--function-name',
      fnArn(name),
      '--runtime',
      'nodejs22.x',
      '--handler',
      'index.handler',
      '--role',
      `arn:aws:iam::${ns}:role/runner`,
      '--zip-file',
      `fileb://${file('v1.zip', zip1)}`,
    ]);
    expect(created).toMatchObject({ FunctionName: name, Runtime: 'nodejs22.x', Handler: 'index.handler' });
    expect(created.CodeSha256).toBe(sha256b64(zip1));
    expect(created.CodeSize).toBe(zip1.length);
    let fn = await kube<FunctionResource>('fn', name);
    expect(fn?.spec.code).toEqual({ package: `sha256:${sha256(zip1)}` });
    expect(fn?.spec.runtime).toBe('nodejs22');
    expect(fn?.spec.executionRole).toEqual({ serviceAccountName: 'runner' });
    await waitReady(ns, name);

    // 2. invoke: the dependency from the zip's node_modules
    const r1 = await invokeCli(name, { a: 1 });
    expect(r1.meta.StatusCode).toBe(200);
    expect(r1.meta.FunctionError).toBeUndefined();
    const yamlVersion = JSON.parse(
      readFileSync(join(ROOT, 'node_modules/yaml/package.json'), 'utf8'),
    ).version;
    expect(r1.body).toEqual({ v: 1, yaml: 'a: 1\n', yamlVersion });

    // 3. publish a layer; update-function-code (+ the layer through update-function-configuration)
    const layer = await cli([
      'publish-layer-version',
      '--layer-name',
      `arn:aws:lambda:sluice:${ns}:layer:shared`,
      '--zip-file',
      `fileb://${file('layer.zip', layerZip)}`,
      '--compatible-runtimes',
      'nodejs22.x',
    ]);
    expect(layer.Version).toBe(1);
    expect(layer.LayerVersionArn).toMatch(new RegExp(`:${ns}:layer:shared:1$`));
    expect(layer.Content.CodeSha256).toBe(sha256b64(layerZip));
    const lv = await kube<LayerVersionResource>('lv', 'shared-v1');
    expect(lv?.spec).toMatchObject({
      layerName: 'shared',
      version: 1,
      package: `sha256:${sha256(layerZip)}`,
    });

    const updated = await cli([
      'update-function-code',
      '--function-name',
      fnArn(name),
      '--zip-file',
      `fileb://${file('v2.zip', zip2)}`,
    ]);
    expect(updated.CodeSha256).toBe(sha256b64(zip2));
    fn = await kube<FunctionResource>('fn', name);
    expect(fn?.spec.code).toEqual({ package: `sha256:${sha256(zip2)}` });
    await waitUpdated(ns, name);
    const r2 = await invokeCli(name, { doc: 'k: [1, 2]' });
    expect(r2.body).toEqual({ v: 2, doc: { k: [1, 2] }, shared: 'no layer: MODULE_NOT_FOUND' });

    // The layer, set the Kubernetes way (the CRD is the source of truth), then seen by get-function.
    const patched = await kubectl([
      '-n',
      ns,
      'patch',
      'fn',
      name,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { layers: [layer.LayerVersionArn] } }),
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    await waitUpdated(ns, name);
    const r3 = await invokeCli(name, { doc: 'x: 1' });
    expect(r3.body).toEqual({ v: 2, doc: { x: 1 }, shared: 'from /opt' });

    // 4. get-function: the same configuration, and Code.Location downloads the same bytes
    const got = await cli(['get-function', '--function-name', fnArn(name)]);
    expect(got.Configuration).toMatchObject({
      FunctionName: name,
      CodeSha256: sha256b64(zip2),
      Runtime: 'nodejs22.x',
      Role: `arn:aws:iam::${ns}:role/runner`,
    });
    expect(got.Configuration.Layers?.map((l: { Arn: string }) => l.Arn)).toEqual([layer.LayerVersionArn]);
    const location = new URL(got.Code.Location as string);
    // The Location is the gateway's own URL; reach it through this test's forward.
    const download = await fetch(`${gw.base}${location.pathname}${location.search}`);
    expect(download.status).toBe(200);
    expect(sha256(Buffer.from(await download.arrayBuffer()))).toBe(sha256(zip2));
    // Tampered signature: refused.
    const bad = await fetch(
      `${gw.base}${location.pathname}${location.search.replace(/signature=[^&]+/, 'signature=00')}`,
    );
    expect(bad.status).toBe(403);

    // 5. delete-function: gone from kubectl too
    await cli(['delete-function', '--function-name', fnArn(name)]);
    await waitFor(`Function ${name} to be deleted`, async () =>
      (await kube('fn', name)) === undefined ? true : undefined,
    );
    expect(await versionsOf(name)).toEqual([]);
    const gone = await cli(['get-function', '--function-name', fnArn(name)]).catch((e: Error) => e);
    expect(String(gone)).toContain('ResourceNotFoundException');
  });

  it('the SDK: zip slip, absolute paths, a zip bomb, a 51 MB upload and an unknown runtime are refused with Lambda’s codes; nothing is created', async () => {
    dumpOnFailure();
    const create = (n: string, zip: Uint8Array, runtime = 'nodejs22.x') =>
      sdk
        .send(
          new CreateFunctionCommand({
            FunctionName: fnArn(n),
            Runtime: runtime as never,
            Handler: 'index.handler',
            Role: `arn:aws:iam::${ns}:role/runner`,
            Code: { ZipFile: zip },
          }),
        )
        .then(
          () => ({ name: 'created', status: 200, message: '' }),
          (e: Error & { $metadata?: { httpStatusCode?: number } }) => ({
            name: e.name,
            status: e.$metadata?.httpStatusCode,
            message: e.message,
          }),
        );
    const good = await buildZip([{ name: 'index.js', data: 'exports.handler = async () => 1' }]);
    const cases = [
      {
        n: 'slip',
        zip: craftZip([{ name: '../../etc/evil.js', content: 'x' }]),
        want: 400,
        code: 'InvalidParameterValueException',
        says: /\.\./,
      },
      {
        n: 'abs',
        zip: craftZip([{ name: '/etc/passwd', content: 'x' }]),
        want: 400,
        code: 'InvalidParameterValueException',
        says: /absolute|\/etc\/passwd/,
      },
      {
        n: 'bomb',
        // 300 MB of zeros declared as 1 KB: inflating it exceeds the 250 MB limit.
        zip: craftZip([
          { name: 'zeros', raw: await deflatedZeros(300 * 1024 * 1024), uncompressedSize: 1024, crc32: 0 },
        ]),
        want: 400,
        code: 'InvalidParameterValueException',
        says: /Unzipped size|size/,
      },
      {
        n: 'huge',
        zip: Buffer.concat([good, Buffer.alloc(51 * 1024 * 1024)]),
        want: 413,
        code: 'RequestEntityTooLargeException',
        says: /.*/,
      },
      {
        n: 'runtime',
        zip: good,
        runtime: 'cobol85',
        want: 400,
        code: 'InvalidParameterValueException',
        says: /runtime/,
      },
    ];
    for (const c of cases) {
      const r = await create(c.n, c.zip, c.runtime);
      expect({ case: c.n, name: r.name, status: r.status }).toEqual({
        case: c.n,
        name: c.code,
        status: c.want,
      });
      expect(r.message, c.n).toMatch(c.says);
      expect(await kube('fn', c.n), `${c.n} must not exist`).toBeUndefined();
    }
  });

  it('a caller without RBAC in the namespace gets 403 AccessDeniedException and creates nothing', async () => {
    dumpOnFailure();
    const stranger = await createAccessKey(`serviceaccount:${ns}:stranger`);
    try {
      const good = await buildZip([{ name: 'index.js', data: 'exports.handler = async () => 1' }]);
      const err = await lambdaClient(gw.base, stranger)
        .send(
          new CreateFunctionCommand({
            FunctionName: fnArn('nope'),
            Runtime: 'nodejs22.x',
            Handler: 'index.handler',
            Role: `arn:aws:iam::${ns}:role/runner`,
            Code: { ZipFile: good },
          }),
        )
        .catch((e: Error & { $metadata?: { httpStatusCode?: number } }) => e);
      expect(err).toMatchObject({ name: 'AccessDeniedException', $metadata: { httpStatusCode: 403 } });
      expect(await kube('fn', 'nope')).toBeUndefined();
    } finally {
      await stranger.remove();
    }
  });

  it('Rust with lambda_runtime: provided from a zip whose bootstrap is the binary, and as a layer (/opt/bootstrap) under a data-only zip', async () => {
    dumpOnFailure();
    const [fnZip, layerZip, dataZip] = (await script('test/cluster/rust-fn.sh', []))
      .trim()
      .split('\n')
      .slice(-3);
    const layer = await cli([
      'publish-layer-version',
      '--layer-name',
      `arn:aws:lambda:sluice:${ns}:layer:rust-runtime`,
      '--zip-file',
      `fileb://${layerZip}`,
    ]);
    for (const [name, zip, layers] of [
      ['rust-zip', fnZip, []],
      ['rust-layer', dataZip, [layer.LayerVersionArn as string]],
    ] as const) {
      await cli([
        'create-function',
        '--function-name',
        fnArn(name),
        '--runtime',
        'provided.al2023',
        '--handler',
        'bootstrap',
        '--role',
        `arn:aws:iam::${ns}:role/runner`,
        '--zip-file',
        `fileb://${zip}`,
        ...(layers.length ? ['--layers', ...layers] : []),
      ]);
      expect((await kube<FunctionResource>('fn', name))?.spec.runtime).toBe('provided');
      await waitReady(ns, name);
      const r = await invokeCli(name, { hello: name });
      expect(r.meta.FunctionError).toBeUndefined();
      expect(r.body).toMatchObject({ runtime: 'rust', echo: { hello: name } });
      expect(typeof r.body.requestId).toBe('string');
      const e = await invokeCli(name, { action: 'error' });
      expect(e.meta.FunctionError).toBe('Unhandled');
      expect(e.body.errorType).toBe('EchoError');
    }
  });
});
