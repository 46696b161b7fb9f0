import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ROOT } from '../../api/paths.js';
import { GatewayMetrics, PackageGcMetrics } from '../../gateway/metrics.js';
import { AsyncMetrics } from '../../gateway/async/metrics.js';
import { PollerMetrics } from '../../poller/metrics.js';
import { RuntimeMetrics } from '../../runtime/metrics.js';
import {
  DASHBOARD_FILES,
  EXPRESSIONS,
  GRAFANA,
  RULES,
  dashboards,
  grafanaFree,
  rules,
  selectors,
  type Dashboard,
} from '../support/observability.js';

/** Production TypeScript sources of the components (tests excluded). */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return sources(p);
    return f.endsWith('.ts') && !f.endsWith('.test.ts') ? [p] : [];
  });
}
const SOURCES = ['api', 'controller', 'gateway', 'poller', 'runtime', 'lib'].flatMap((d) =>
  sources(join(ROOT, d)),
);

/** Metric names the code registers (`name: 'sluice_…'` next to `new Counter|Gauge|Histogram(`). */
const DEFINED = new Set(
  SOURCES.flatMap((f) =>
    [...readFileSync(f, 'utf8').matchAll(/\bname: '(sluice_[a-z0-9_]+)'/g)].map((m) => m[1]!),
  ),
);

/** prom-client's default metrics under the prefix lib/metrics.ts gives them. */
const PREFIX = /prefix: '(sluice_[a-z_]+)'/.exec(readFileSync(join(ROOT, 'lib/metrics.ts'), 'utf8'))?.[1];
const processRegistry = new Registry();
collectDefaultMetrics({ register: processRegistry, ...(PREFIX ? { prefix: PREFIX } : {}) });
const PROCESS = new Set(
  processRegistry.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name),
);

/** Each component's metrics and their label names, from the classes (the controller's from its main). */
type Component = 'sluice-controller' | 'sluice-gateway' | 'sluice-poller' | 'sluice-runtime';
const LABELS = new Map<string, { components: Set<Component>; labels: Set<string>; histogram: boolean }>();
function collect(component: Component, registry: Registry): void {
  for (const m of registry.getMetricsAsArray()) {
    const { name, labelNames, upperBound } = m as unknown as {
      name: string;
      labelNames: string[];
      upperBound?: number;
    };
    const e = LABELS.get(name) ?? { components: new Set(), labels: new Set(), histogram: false };
    e.components.add(component);
    for (const l of labelNames) e.labels.add(l);
    e.histogram ||= upperBound !== undefined || m.constructor.name === 'Histogram';
    LABELS.set(name, e);
  }
}
{
  const gateway = new Registry();
  new GatewayMetrics(gateway);
  void new AsyncMetrics(gateway).invocations;
  new PackageGcMetrics(gateway);
  collect('sluice-gateway', gateway);
  const poller = new Registry();
  new PollerMetrics(poller);
  collect('sluice-poller', poller);
  const runtime = new Registry();
  new RuntimeMetrics(runtime, { namespace: 'n', function: 'f', version: '1' });
  collect('sluice-runtime', runtime);
  const main = readFileSync(join(ROOT, 'controller/main.ts'), 'utf8');
  for (const m of main.matchAll(/name: '(sluice_[a-z0-9_]+)',[^}]*?labelNames: \[([^\]]*)\]/gs)) {
    const labels = [...m[2]!.matchAll(/'([a-z_]+)'/g)].map((l) => l[1]!);
    LABELS.set(m[1]!, {
      components: new Set(['sluice-controller']),
      labels: new Set(labels),
      histogram: false,
    });
  }
}
/** Labels every series has from the registry (component) or from the scrape (job, pod, instance). */
const COMMON = new Set(['component', 'job', 'pod', 'instance']);

/** The metric a series name belongs to: histograms' _bucket/_sum/_count are their histogram's. */
function metricOf(series: string): string {
  const base = series.replace(/_(bucket|sum|count)$/, '');
  return base !== series && LABELS.get(base)?.histogram ? base : series;
}
describe('metric names', () => {
  it('finds the metrics of the code (sanity check of the grep)', () => {
    for (const name of [
      'sluice_invocations_total',
      'sluice_invocation_duration_seconds',
      'sluice_function_replicas',
      'sluice_reconcile_total',
      'sluice_esm_backlog_messages',
    ])
      expect(DEFINED).toContain(name);
    expect(PREFIX).toBe('sluice_process_');
    expect(PROCESS).toContain('sluice_process_process_cpu_seconds_total');
    for (const name of DEFINED) expect(LABELS.has(name), `${name} found in a metrics class`).toBe(true);
  });

  it('uses only metrics the code registers, in every dashboard query and alert rule', () => {
    const unknown = EXPRESSIONS.flatMap(({ where, expr }) =>
      selectors(expr)
        .map((s) => s.series)
        .filter((s) => !DEFINED.has(metricOf(s)) && !PROCESS.has(s))
        .map((s) => `${where}: ${s}`),
    );
    expect(unknown).toEqual([]);
  });

  it('uses only labels those metrics have, and component values of the components that register them', () => {
    const bad: string[] = [];
    for (const { where, expr } of EXPRESSIONS) {
      const used = selectors(expr);
      const allowed = new Set(COMMON);
      for (const { series, matchers } of used) {
        const m = LABELS.get(metricOf(series));
        const labels = new Set([
          ...(m?.labels ?? []),
          ...COMMON,
          ...(series.endsWith('_bucket') ? ['le'] : []),
        ]);
        for (const l of labels) allowed.add(l);
        for (const [label, op, value] of matchers) {
          if (!labels.has(label)) bad.push(`${where}: ${series} has no label ${label}`);
          if (label === 'component' && op === '=' && m && !m.components.has(value as Component))
            bad.push(`${where}: ${series} is not registered by ${value}`);
        }
      }
      for (const by of expr.matchAll(/\bby\s*\(([^)]*)\)/g))
        for (const l of by[1]!.split(',').map((x) => x.trim()))
          if (l && !allowed.has(l)) bad.push(`${where}: by (${l}) is no label of its metrics`);
    }
    expect(bad).toEqual([]);
  });

  it('selects function metrics by namespace and function as the code labels them', () => {
    for (const name of [
      'sluice_invocations_total',
      'sluice_function_replicas',
      'sluice_concurrent_executions',
    ])
      expect([...LABELS.get(name)!.labels]).toEqual(
        expect.arrayContaining(['namespace', 'function', 'version']),
      );
  });
});

describe('Grafana dashboards', () => {
  it('ships the five dashboards', () => {
    expect(DASHBOARD_FILES.sort()).toEqual([
      'sluice-async.json',
      'sluice-event-sources.json',
      'sluice-function.json',
      'sluice-overview.json',
      'sluice-platform.json',
    ]);
    expect(new Set(dashboards.map(({ d }) => d.uid)).size).toBe(dashboards.length);
  });

  it.each(DASHBOARD_FILES)('%s: valid JSON, unique panel ids, every panel queries Prometheus', (file) => {
    const d = JSON.parse(readFileSync(join(GRAFANA, file), 'utf8')) as Dashboard;
    expect(d.title).toMatch(/^Sluice \//);
    const ids = d.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of d.panels) {
      expect(Number.isInteger(p.id)).toBe(true);
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      if (p.type === 'row') continue;
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.expr).toMatch(/sluice_/);
    }
  });

  it('covers what issue 8 asks of the drill-down', () => {
    const text = readFileSync(join(GRAFANA, 'sluice-function.json'), 'utf8');
    for (const m of [
      'sluice_invocations_total',
      'sluice_throttles_total',
      'histogram_quantile(0.5',
      'histogram_quantile(0.9,',
      'histogram_quantile(0.99',
      'sluice_cold_starts_total',
      'sluice_concurrent_executions',
      'sluice_function_replicas',
    ])
      expect(text).toContain(m);
  });
});

describe('alert rules', () => {
  it('alert on error rate, DLQ growth, event age, throttling, stuck scale-up, reconcile errors, lost consumers, unsettled events and platform auth failures', () => {
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'SluiceFunctionErrorRate',
        'SluiceDeadLetterGrowth',
        'SluiceAsyncEventAgeHigh',
        'SluiceFunctionThrottled',
        'SluiceScaleUpStuck',
        'SluiceReconcileErrors',
        'SluiceAsyncConsumerRecreated',
        'SluiceAsyncConsumerMissing',
        'SluiceAsyncSettleFailures',
        'SluicePlatformAuthFailures',
      ]),
    );
    for (const r of rules) {
      expect(r.for, r.alert).toMatch(/^[0-9]+m$/);
      expect(r.labels?.severity, r.alert).toMatch(/^(warning|critical|info)$/);
    }
  });
});

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
if (!promtool) {
  throw new Error('promtool not found: `make tools` installs it (Debian prometheus, test/cluster/deps.sh)');
}

// promtool comes with Debian's prometheus package (test/cluster/deps.sh installs it).
describe('promtool', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-promtool-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[]): string => {
    const r = spawnSync('promtool', args, { encoding: 'utf8', cwd: dir });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    return r.stdout;
  };

  it('check rules deploy/prometheus/rules.yaml', () => {
    expect(run(['check', 'rules', RULES])).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('parses every dashboard query (Grafana variables substituted)', () => {
    const exprs = EXPRESSIONS.filter((e) => e.grafana && !e.expr.startsWith('label_values('));
    const file = join(dir, 'dashboards.rules.yaml');
    writeFileSync(
      file,
      stringify({
        groups: [
          {
            name: 'dashboards',
            rules: exprs.map((e, i) => ({
              record: `sluice:dashboard_query:${i}`,
              expr: grafanaFree(e.expr),
            })),
          },
        ],
      }),
    );
    expect(run(['check', 'rules', relative(dir, file)])).toContain(`SUCCESS: ${exprs.length} rules found`);
  });

  it('fires every alert on a failing function and none on a healthy one (promtool test rules)', () => {
    const fn = (component: string, extra: string): string =>
      `{component="${component}",namespace="shop",function="resize",version="1"${extra}}`;
    /** Series of metrics without a version label. */
    const fnOnly = (component: string, extra: string): string =>
      `{component="${component}",namespace="shop",function="resize"${extra}}`;
    const bad = [
      { series: `sluice_async_consumer_recreated_total${fnOnly('sluice-gateway', '')}`, values: '0+1x40' },
      { series: `sluice_async_consumer_missing${fnOnly('sluice-gateway', '')}`, values: '1x40' },
      { series: `sluice_async_settle_failures_total${fn('sluice-gateway', '')}`, values: '0+1x40' },
      {
        series: `sluice_platform_auth_failures_total${fnOnly('sluice-poller', ',status="403"')}`,
        values: '0+1x40',
      },
      {
        series: `sluice_invocations_total${fn('sluice-gateway', ',type="sync",outcome="success"')}`,
        values: '0+60x40',
      },
      {
        series: `sluice_invocations_total${fn('sluice-gateway', ',type="sync",outcome="function_error"')}`,
        values: '0+30x40',
      },
      {
        series: `sluice_invocations_total${fn('sluice-gateway', ',type="sync",outcome="throttled"')}`,
        values: '0+30x40',
      },
      { series: `sluice_function_replicas${fn('sluice-poller', ',state="desired"')}`, values: '3x40' },
      { series: `sluice_function_replicas${fn('sluice-poller', ',state="ready"')}`, values: '1x40' },
      {
        series: `sluice_dead_letter_events_total${fn('sluice-gateway', ',reason="RetriesExhausted"')}`,
        values: '0+1x40',
      },
      { series: `sluice_destination_delivery_failures_total${fn('sluice-gateway', '')}`, values: '0+1x40' },
      { series: `sluice_async_event_age_seconds_bucket${fn('sluice-gateway', ',le="300"')}`, values: '0x40' },
      {
        series: `sluice_async_event_age_seconds_bucket${fn('sluice-gateway', ',le="600"')}`,
        values: '0+10x40',
      },
      {
        series: `sluice_async_event_age_seconds_bucket${fn('sluice-gateway', ',le="+Inf"')}`,
        values: '0+10x40',
      },
      {
        series: 'sluice_reconcile_total{component="sluice-controller",kind="Function",result="error"}',
        values: '0+1x40',
      },
    ];
    const good = [
      { series: `sluice_async_consumer_recreated_total${fnOnly('sluice-gateway', '')}`, values: '2x40' },
      { series: `sluice_async_consumer_missing${fnOnly('sluice-gateway', '')}`, values: '0x40' },
      { series: `sluice_async_settle_failures_total${fn('sluice-gateway', '')}`, values: '3x40' },
      {
        series: `sluice_platform_auth_failures_total${fnOnly('sluice-poller', ',status="403"')}`,
        values: '4x40',
      },
      {
        series: `sluice_invocations_total${fn('sluice-gateway', ',type="sync",outcome="success"')}`,
        values: '0+60x40',
      },
      { series: `sluice_function_replicas${fn('sluice-poller', ',state="desired"')}`, values: '2x40' },
      { series: `sluice_function_replicas${fn('sluice-poller', ',state="ready"')}`, values: '2x40' },
      {
        series: `sluice_dead_letter_events_total${fn('sluice-gateway', ',reason="RetriesExhausted"')}`,
        values: '5x40',
      },
      {
        series: `sluice_async_event_age_seconds_bucket${fn('sluice-gateway', ',le="1"')}`,
        values: '0+10x40',
      },
      {
        series: `sluice_async_event_age_seconds_bucket${fn('sluice-gateway', ',le="+Inf"')}`,
        values: '0+10x40',
      },
      {
        series: 'sluice_reconcile_total{component="sluice-controller",kind="Function",result="success"}',
        values: '0+1x40',
      },
    ];
    const target = { namespace: 'shop', function: 'resize' };
    const expected: Record<string, Record<string, string>> = {
      SluiceFunctionErrorRate: target,
      SluiceFunctionThrottled: target,
      SluiceScaleUpStuck: { ...target, version: '1' },
      SluiceDeadLetterGrowth: { ...target, reason: 'RetriesExhausted' },
      SluiceAsyncEventAgeHigh: target,
      SluiceDestinationDeliveryFailures: target,
      SluiceReconcileErrors: { kind: 'Function' },
      SluiceAsyncConsumerRecreated: target,
      SluiceAsyncConsumerMissing: target,
      SluiceAsyncSettleFailures: target,
      SluicePlatformAuthFailures: { component: 'sluice-poller', ...target, status: '403' },
    };
    /** Alerts that are not `warning`. */
    const severity: Record<string, string> = {
      SluiceAsyncConsumerMissing: 'critical',
      SluicePlatformAuthFailures: 'critical',
    };
    expect(Object.keys(expected).sort()).toEqual(rules.map((r) => r.alert).sort());
    // Annotations are checked by `promtool check rules`; compare labels only (a copy without them).
    const bare = join(dir, 'rules.bare.yaml');
    const doc = parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { annotations?: unknown }[] }[] };
    for (const g of doc.groups) for (const r of g.rules) delete r.annotations;
    writeFileSync(bare, stringify(doc));
    const file = join(dir, 'rules.test.yaml');
    writeFileSync(
      file,
      stringify({
        rule_files: [bare],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: bad,
            alert_rule_test: Object.entries(expected).map(([alertname, labels]) => ({
              eval_time: '35m',
              alertname,
              exp_alerts: [{ exp_labels: { severity: severity[alertname] ?? 'warning', ...labels } }],
            })),
          },
          {
            interval: '1m',
            input_series: good,
            alert_rule_test: Object.keys(expected).map((alertname) => ({
              eval_time: '35m',
              alertname,
              exp_alerts: [],
            })),
          },
        ],
      }),
    );
    const r = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8', cwd: dir });
    expect(r.stdout + r.stderr).toContain('SUCCESS');
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});
