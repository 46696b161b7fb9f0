import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from '../api/paths.js';

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
const load = (f: string): Rule[] =>
  parse(readFileSync(join(ROOT, 'charts/sluice/files', f), 'utf8')) as Rule[];
const cluster = load('poller-rules.yaml');
const namespaced = load('poller-namespace-rules.yaml');
const allows = (rules: Rule[], group: string, resource: string, verb: string): boolean =>
  rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));

describe('poller RBAC', () => {
  it('has no wildcards', () => {
    for (const r of [...cluster, ...namespaced]) {
      for (const v of [...r.apiGroups, ...r.resources, ...r.verbs]) expect(v).not.toContain('*');
    }
  });

  it('cannot touch secrets, RBAC, pods or function specs', () => {
    const resources = cluster.flatMap((r) => r.resources);
    for (const forbidden of [
      'secrets',
      'pods',
      'roles',
      'clusterroles',
      'rolebindings',
      'clusterrolebindings',
    ]) {
      expect(resources).not.toContain(forbidden);
    }
    expect(allows(cluster, 'sluice.dev', 'functions', 'patch')).toBe(false);
    expect(allows(cluster, 'apps', 'deployments', 'create')).toBe(false);
    expect(allows(cluster, 'apps', 'deployments', 'delete')).toBe(false);
  });

  it('keeps leases and endpoint slices to its own namespace', () => {
    expect(cluster.flatMap((r) => r.resources)).not.toContain('leases');
    expect(cluster.flatMap((r) => r.resources)).not.toContain('endpointslices');
  });

  it('reads ConfigMaps (the NATS accounts one) only in its own namespace, and never writes them', () => {
    expect(cluster.flatMap((r) => r.resources)).not.toContain('configmaps');
    const cm = namespaced.filter((r) => r.resources.includes('configmaps'));
    expect(cm.flatMap((r) => r.verbs).sort()).toEqual(['get', 'list', 'watch']);
  });

  it.each([
    {
      name: 'watch mappings',
      rules: cluster,
      group: 'sluice.dev',
      resource: 'eventsourcemappings',
      verb: 'watch',
    },
    {
      name: 'set the finalizer',
      rules: cluster,
      group: 'sluice.dev',
      resource: 'eventsourcemappings',
      verb: 'patch',
    },
    {
      name: 'write mapping status',
      rules: cluster,
      group: 'sluice.dev',
      resource: 'eventsourcemappings/status',
      verb: 'patch',
    },
    {
      name: 'read versions',
      rules: cluster,
      group: 'sluice.dev',
      resource: 'functionversions',
      verb: 'list',
    },
    { name: 'resolve aliases', rules: cluster, group: 'sluice.dev', resource: 'aliases', verb: 'watch' },
    { name: 'watch deployments', rules: cluster, group: 'apps', resource: 'deployments', verb: 'watch' },
    { name: 'scale', rules: cluster, group: 'apps', resource: 'deployments/scale', verb: 'patch' },
    {
      name: 'take leases',
      rules: namespaced,
      group: 'coordination.k8s.io',
      resource: 'leases',
      verb: 'update',
    },
    {
      name: 'list leases',
      rules: namespaced,
      group: 'coordination.k8s.io',
      resource: 'leases',
      verb: 'list',
    },
    {
      name: 'find gateways',
      rules: namespaced,
      group: 'discovery.k8s.io',
      resource: 'endpointslices',
      verb: 'watch',
    },
  ])('allows what it needs: $name', ({ rules, group, resource, verb }) =>
    expect(allows(rules, group, resource, verb)).toBe(true),
  );
});
