import { describe, expect, it } from 'vitest';
import { crdFor, staleFiles } from '../../api/generate.js';
import { KINDS, type Schema } from '../../api/schema.js';
import { loadExamples } from '../../api/examples.js';

type Node = { path: string; schema: Schema };

/** Every schema node under a root, with its JSON path. */
function walk(schema: Schema, path: string, out: Node[] = []): Node[] {
  out.push({ path, schema });
  for (const [k, v] of Object.entries(schema.properties ?? {})) walk(v, `${path}.${k}`, out);
  if (schema.items) walk(schema.items, `${path}[]`, out);
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    walk(schema.additionalProperties, `${path}{}`, out);
  }
  return out;
}

describe('generated API files', () => {
  it('are up to date with api/schema.ts (run `npm run generate` when this fails)', async () => {
    expect(await staleFiles()).toEqual([]);
  });
});

describe('CRD structural check', () => {
  const crds = KINDS.map((k) => ({ kind: k.kind, crd: crdFor(k) as any }));

  it.each(crds)(
    '$kind: apiextensions v1, served and stored, status subresource, short names',
    ({ kind, crd }) => {
      expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
      expect(crd.spec.group).toBe('sluice.dev');
      expect(crd.metadata.name).toBe(`${crd.spec.names.plural}.sluice.dev`);
      expect(crd.spec.names.kind).toBe(kind);
      const [v] = crd.spec.versions;
      expect(v.name).toBe('v1alpha1');
      expect(v.served && v.storage).toBe(true);
      expect(v.subresources).toEqual({ status: {} });
      expect(v.additionalPrinterColumns.map((c: any) => c.name)).toContain('Age');
    },
  );

  it('has the short names fn, fnv, esm, lv', () => {
    const names = crds.flatMap(({ crd }) => crd.spec.names.shortNames ?? []);
    expect(names.sort()).toEqual(['esm', 'fn', 'fnv', 'lv']);
  });

  it('shows runtime, latest version, ready/desired replicas and age for kubectl get fn', () => {
    const fn = crds.find((c) => c.kind === 'Function')!.crd;
    const cols = fn.spec.versions[0].additionalPrinterColumns.map((c: any) => `${c.name}=${c.jsonPath}`);
    expect(cols).toEqual(
      expect.arrayContaining([
        'Runtime=.spec.runtime',
        'Latest=.status.latestVersion',
        'Replicas=.status.replicaSummary',
        'Age=.metadata.creationTimestamp',
      ]),
    );
  });

  const nodes = KINDS.flatMap((k) => [
    ...walk(k.spec, `${k.kind}.spec`),
    ...walk(k.status, `${k.kind}.status`),
  ]);

  it.each(nodes)('$path is structural: has a type and a description', ({ schema }) => {
    expect(schema.type, 'every node needs a type (structural schema)').toBeDefined();
    expect(schema.description?.length ?? 0).toBeGreaterThan(3);
    if (schema.type === 'object') {
      expect(Boolean(schema.properties) || Boolean(schema.additionalProperties)).toBe(true);
    }
    if (schema.type === 'string' && !schema.enum && !schema.format) {
      // CEL cost estimation needs bounded strings.
      expect(schema.maxLength, 'strings need maxLength').toBeGreaterThan(0);
    }
  });

  it.each(nodes.filter((n) => n.schema['x-kubernetes-validations']))(
    '$path: every CEL rule has a message naming a field',
    ({ schema }) => {
      for (const v of schema['x-kubernetes-validations'] ?? []) {
        expect(v.rule.length).toBeGreaterThan(0);
        expect(v.message).toMatch(/^(spec|metadata)\b/);
      }
    },
  );

  it('validates the ranges the issue names, in CEL', () => {
    const rules = nodes.flatMap((n) => (n.schema['x-kubernetes-validations'] ?? []).map((v) => v.message));
    for (const m of [
      'spec.memoryMB must be between 128 and 10240',
      'spec.timeoutSeconds must be between 1 and 900',
      'spec.ephemeralStorageMB must be between 512 and 10240',
      'spec.async.maxRetryAttempts must be between 0 and 2',
      'spec.async.maxEventAgeSeconds must be between 60 and 21600',
      'spec.batchSize must be between 1 and 10000',
    ]) {
      expect(rules).toContain(m);
    }
  });

  it('makes the FunctionVersion spec immutable', () => {
    const fnv = KINDS.find((k) => k.kind === 'FunctionVersion')!;
    expect(fnv.spec['x-kubernetes-validations']?.map((v) => v.rule)).toContain('self == oldSelf');
  });
});

describe('example manifests', () => {
  const { valid, invalid } = loadExamples();
  const kinds = new Set(valid.flatMap((v) => v.docs.map((d) => d.kind)));

  it('cover every kind with valid examples', () => {
    expect([...kinds].sort()).toEqual(expect.arrayContaining(['Alias', 'EventSourceMapping', 'Function']));
  });

  it.each(invalid.map((i) => ({ name: i.file.split('/').pop(), ...i })))(
    '$name expects a message that one of the CRDs can produce',
    ({ doc, expect: expected }) => {
      expect(doc.apiVersion).toBe('sluice.dev/v1alpha1');
      const crd = KINDS.find((k) => k.kind === doc.kind);
      expect(crd, `unknown kind ${String(doc.kind)}`).toBeDefined();
      const messages = [
        crd!.spec,
        ...(crd!.rootValidations ? [{ 'x-kubernetes-validations': crd!.rootValidations } as Schema] : []),
      ]
        .flatMap((s) => walk(s, ''))
        .flatMap((n) => (n.schema['x-kubernetes-validations'] ?? []).map((v) => v.message));
      // Native enum errors ("Unsupported value") come from the API server itself.
      const first = expected[0]!;
      if (!first.includes('Unsupported value')) {
        expect(messages.some((m) => m.includes(first))).toBe(true);
      }
    },
  );
});
