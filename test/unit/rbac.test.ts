import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ROOT } from '../../api/paths.js';
import { PACKAGE_GC_LEASE } from '../../gateway/packages/gc.js';
import { renderChart } from '../support/helm.js';

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
const load = (component: string): Rule[] =>
  parse(readFileSync(join(ROOT, `charts/sluice/files/${component}-rules.yaml`), 'utf8')) as Rule[];
const rules = load('controller');

describe.each(['controller', 'gateway', 'poller'])('%s ClusterRole', (component) => {
  const r = load(component);
  it('has no wildcards in groups, resources or verbs', () => {
    for (const rule of r)
      for (const v of [...rule.apiGroups, ...rule.resources, ...rule.verbs]) expect(v).not.toContain('*');
  });
  it('cannot read secrets cluster-wide or change RBAC', () => {
    const resources = r.flatMap((x) => x.resources);
    const secretVerbs = r.filter((x) => x.resources.includes('secrets')).flatMap((x) => x.verbs);
    for (const read of ['get', 'list', 'watch']) expect(secretVerbs).not.toContain(read);
    for (const forbidden of ['clusterroles', 'roles', 'rolebindings', 'clusterrolebindings', 'nodes']) {
      expect(resources).not.toContain(forbidden);
    }
    expect(r.flatMap((x) => x.verbs)).not.toContain('escalate');
    expect(r.flatMap((x) => x.verbs)).not.toContain('impersonate');
  });
});

describe('controller ClusterRole', () => {
  it('has no wildcards in groups, resources or verbs', () => {
    for (const r of rules) {
      for (const v of [...r.apiGroups, ...r.resources, ...r.verbs]) expect(v).not.toContain('*');
    }
  });

  it("writes Secrets (functions' invoke tokens) but can never read or delete one", () => {
    const secretRules = rules.filter((r) => r.resources.includes('secrets'));
    expect(secretRules.map((r) => [r.apiGroups, r.resources, [...r.verbs].sort()])).toEqual([
      [[''], ['secrets'], ['create', 'patch']],
    ]);
  });

  it('cannot touch RBAC or anything it does not manage', () => {
    const resources = rules.flatMap((r) => r.resources);
    for (const forbidden of [
      'clusterroles',
      'roles',
      'rolebindings',
      'clusterrolebindings',
      'nodes',
      'namespaces',
    ]) {
      expect(resources).not.toContain(forbidden);
    }
    expect(rules.flatMap((r) => r.verbs)).not.toContain('escalate');
  });

  it.each([
    {
      name: 'create versions (publishing)',
      group: 'sluice.dev',
      resource: 'functionversions',
      verb: 'create',
    },
    {
      name: 'label legacy versions',
      group: 'sluice.dev',
      resource: 'functionversions',
      verb: 'patch',
    },
    { name: 'write function status', group: 'sluice.dev', resource: 'functions/status', verb: 'patch' },
    { name: 'apply deployments', group: 'apps', resource: 'deployments', verb: 'patch' },
    { name: 'set the initial scale', group: 'apps', resource: 'deployments/scale', verb: 'patch' },
    ...(
      [
        ['sluice.dev', 'functions'],
        ['sluice.dev', 'functionversions'],
        ['sluice.dev', 'aliases'],
        ['apps', 'deployments'],
        ['', 'services'],
        ['', 'configmaps'],
        ['', 'pods'],
        ['', 'serviceaccounts'],
        ['networking.k8s.io', 'networkpolicies'],
      ] as const
    ).map(([group, resource]) => ({
      name: `watch ${resource} (its caches)`,
      group,
      resource,
      verb: 'watch',
    })),
    {
      name: 'apply network policies',
      group: 'networking.k8s.io',
      resource: 'networkpolicies',
      verb: 'patch',
    },
  ])('allows what reconciling needs: $name', ({ group, resource, verb }) => {
    expect(
      rules.some(
        (r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb),
      ),
    ).toBe(true);
  });

  it('does not let the controller edit function specs (users own them)', () => {
    const fnRules = rules.filter(
      (r) => r.apiGroups.includes('sluice.dev') && r.resources.includes('functions'),
    );
    expect(fnRules.flatMap((r) => r.verbs).sort()).toEqual(['get', 'list', 'watch']);
  });
});

describe('tenant ClusterRoles (aggregated into admin, edit and view)', () => {
  const roles = renderChart([], { showOnly: ['templates/tenant-rbac.yaml'] }) as (KubernetesObject & {
    rules: Rule[];
  })[];
  const role = (name: string): KubernetesObject & { rules: Rule[] } => {
    const r = roles.find((x) => x.metadata?.name === `sluice-tenant-${name}`);
    expect(r, name).toBeDefined();
    return r!;
  };
  const KINDS = ['functions', 'functionversions', 'aliases', 'eventsourcemappings', 'layerversions'];

  it.each([
    {
      name: 'admin',
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    },
    {
      name: 'edit',
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    },
    { name: 'view', verbs: ['get', 'list', 'watch'] },
  ])(
    '$name: Sluice’s four kinds with $verbs.length verbs, aggregated into Kubernetes’ $name',
    ({ name, verbs }) => {
      const r = role(name);
      expect(r.metadata?.labels?.[`rbac.authorization.k8s.io/aggregate-to-${name}`]).toBe('true');
      expect(r.rules).toHaveLength(1);
      expect(r.rules[0]?.apiGroups).toEqual(['sluice.dev']);
      expect([...(r.rules[0]?.resources ?? [])].sort()).toEqual([...KINDS].sort());
      expect([...(r.rules[0]?.verbs ?? [])].sort()).toEqual(verbs);
    },
  );

  it('grant no wildcard, no status subresource, nothing outside sluice.dev', () => {
    for (const r of roles)
      for (const rule of r.rules) {
        for (const v of [...rule.apiGroups, ...rule.resources, ...rule.verbs]) expect(v).not.toContain('*');
        expect(rule.resources.filter((x) => x.includes('/'))).toEqual([]);
        expect(rule.apiGroups).toEqual(['sluice.dev']);
      }
  });
});

describe('controller ClusterRole for NATS accounts', () => {
  type NamedRule = Rule & { resourceNames?: string[] };
  const nats = load('controller-nats') as NamedRule[];
  it('has no wildcards', () => {
    for (const r of nats)
      for (const v of [...r.apiGroups, ...r.resources, ...r.verbs]) expect(v).not.toContain('*');
  });
  it('reads or changes only Secrets named sluice-nats, never lists or watches Secrets', () => {
    for (const r of nats.filter((x) => x.resources.includes('secrets'))) {
      expect(r.verbs).not.toContain('list');
      expect(r.verbs).not.toContain('watch');
      expect(r.verbs).not.toContain('delete');
      if (r.verbs.some((v) => v !== 'create')) expect(r.resourceNames).toEqual(['sluice-nats']);
    }
  });
  it('only reads namespaces, and touches nothing else', () => {
    expect(
      nats
        .filter((r) => r.resources.includes('namespaces'))
        .flatMap((r) => r.verbs)
        .sort(),
    ).toEqual(['get', 'list', 'watch']);
    expect([...new Set(nats.flatMap((r) => r.resources))].sort()).toEqual(['namespaces', 'secrets']);
  });
});

describe('gateway Role for its Lease', () => {
  type NamedRule = Rule & { resourceNames?: string[] };
  const objs = renderChart([], { showOnly: ['templates/gateway-rbac.yaml'] }) as (KubernetesObject & {
    rules?: NamedRule[];
    roleRef?: { name: string };
    subjects?: { name: string; namespace: string }[];
  })[];
  const role = objs.find((o) => o.kind === 'Role' && o.metadata?.name === 'sluice-gateway-leases');

  it('creates Leases and reads and renews only the package garbage collection’s, in its namespace', () => {
    expect(role?.metadata?.namespace).toBe('sluice-system');
    expect(role?.rules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        resourceNames: [PACKAGE_GC_LEASE],
        verbs: ['get', 'update'],
      },
    ]);
    const binding = objs.find(
      (o) => o.kind === 'RoleBinding' && o.metadata?.name === 'sluice-gateway-leases',
    );
    expect(binding?.roleRef?.name).toBe('sluice-gateway-leases');
    expect(binding?.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'sluice-gateway', namespace: 'sluice-system' },
    ]);
  });
});
