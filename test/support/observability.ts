/**
 * Sluice's shipped dashboards (deploy/grafana) and alert rules (deploy/prometheus/rules.yaml) as
 * data: every PromQL expression with where it is, and the metric selectors in an expression. Shared
 * by the unit checks (names, promtool) and the e2e run against a real Prometheus.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../../api/paths.js';

export const GRAFANA = join(ROOT, 'deploy/grafana');
export const RULES = join(ROOT, 'deploy/prometheus/rules.yaml');

export type Panel = {
  id: number;
  type: string;
  title: string;
  gridPos: any;
  targets?: { expr: string; refId: string }[];
};
export type Dashboard = {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; query: any }[] };
};
export const DASHBOARD_FILES = readdirSync(GRAFANA).filter((f) => f.endsWith('.json'));
export const dashboards = DASHBOARD_FILES.map((f) => ({
  file: f,
  d: JSON.parse(readFileSync(join(GRAFANA, f), 'utf8')) as Dashboard,
}));
export type Rule = { alert: string; expr: string; for?: string; labels?: Record<string, string> };
export const ruleGroups = (
  parse(readFileSync(RULES, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }
).groups;
export const rules = ruleGroups.flatMap((g) => g.rules);

/** Every PromQL expression: panel targets, variable queries, alert rules; with where it is. */
export const EXPRESSIONS: { where: string; expr: string; grafana: boolean }[] = [
  ...dashboards.flatMap(({ file, d }) => [
    ...d.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({
        where: `${file} "${p.title}" ${t.refId}`,
        expr: t.expr,
        grafana: true,
      })),
    ),
    ...d.templating.list
      .filter((v) => v.query?.query)
      .map((v) => ({ where: `${file} $${v.name}`, expr: v.query.query as string, grafana: true })),
  ]),
  ...rules.map((r) => ({ where: `rules.yaml ${r.alert}`, expr: r.expr, grafana: false })),
];

/** The Sluice metric selectors of an expression: series name and label matchers. */
export const selectors = (expr: string): { series: string; matchers: [string, string, string][] }[] =>
  [...expr.matchAll(/\b(sluice_[a-z0-9_]+)\s*(?:\{([^}]*)\})?/g)].map((m) => ({
    series: m[1]!,
    matchers: [...(m[2] ?? '').matchAll(/([a-zA-Z_]+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)].map(
      (x) => [x[1]!, x[2]!, x[3]!] as [string, string, string],
    ),
  }));

/**
 * A dashboard query with Grafana's variables substituted: `$__rate_interval` and `$__range` by
 * the given durations, template variables (`$namespace`, …) by their value or `.*` (All).
 */
export function grafanaFree(
  expr: string,
  opts: { rateInterval?: string; range?: string; vars?: Record<string, string> } = {},
): string {
  return expr
    .replaceAll('$__rate_interval', opts.rateInterval ?? '5m')
    .replaceAll('$__range', opts.range ?? '1h')
    .replace(/\$([a-z]+)/g, (_, v: string) => opts.vars?.[v] ?? '.*');
}
