/**
 * Renders a Grafana dashboard of deploy/grafana to a PNG without a Grafana server: the panels are
 * laid out by their gridPos on Grafana's 24-column grid, every panel query runs against a real
 * Prometheus (`query_range`, with Grafana's `$__interval`/`$__rate_interval`/`$__range` and the
 * template variables substituted as Grafana's Prometheus data source does), time series are drawn
 * with uPlot (the chart library Grafana itself uses) and stat panels as big numbers with a
 * sparkline, in Grafana's dark theme; headless Chromium (Debian's `chromium`) screenshots the page.
 *
 * The page is a local file with everything inlined (uPlot, styles, data); Chromium runs with
 * background networking off and a dead proxy, so it reaches nothing.
 *
 *   npx tsx test/render/dashboard.ts --prometheus http://127.0.0.1:9090 \
 *     [--dashboard deploy/grafana/sluice-overview.json] [--out docs/images/dashboard-function-overview.png] \
 *     [--from <ms since epoch>|now-30m] [--to <ms>] [--var namespace=demo] [--scrape-interval 15s] [--width 1600]
 *
 * `make dashboard-png` renders the overview against the e2e suite's Prometheus during a workload.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import ts from 'typescript';
import { formatValue } from './units.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

export type GridPos = { x: number; y: number; w: number; h: number };
export type Target = { expr: string; refId: string; legendFormat?: string; hide?: boolean };
export type Panel = {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: GridPos;
  fieldConfig?: {
    defaults?: {
      unit?: string;
      decimals?: number;
      thresholds?: { steps: { color: string; value: number | null }[] };
    };
  };
  targets?: Target[];
};
export type Variable = {
  name: string;
  label?: string;
  type: string;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
};
export type Dashboard = {
  uid: string;
  title: string;
  description?: string;
  panels: Panel[];
  templating: { list: Variable[] };
};
/** A variable's selected value(s); `undefined` or `'$__all'` is All. */
export type VarValues = Record<string, string | string[] | undefined>;

// ---------------------------------------------------------------------------------------------
// Layout: Grafana's react-grid-layout settings (24 columns, 30 px rows, 8 px margins).

export const GRID = { columns: 24, cellHeight: 30, margin: 8 } as const;
export type Box = { id: number; left: number; top: number; width: number; height: number };

/** Pixel boxes of panels from their gridPos, for a grid `width` pixels wide (as react-grid-layout). */
export function layoutPanels(panels: Pick<Panel, 'id' | 'gridPos'>[], width: number): Box[] {
  const { columns, cellHeight, margin } = GRID;
  const col = (width - margin * (columns - 1)) / columns;
  return panels.map(({ id, gridPos: g }) => ({
    id,
    left: Math.round(g.x * (col + margin)),
    top: Math.round(g.y * (cellHeight + margin)),
    width: Math.round(col * g.w + Math.max(0, g.w - 1) * margin),
    height: Math.round(cellHeight * g.h + Math.max(0, g.h - 1) * margin),
  }));
}

/** The grid's height in pixels: down to the lowest panel's bottom edge. */
export function gridHeight(panels: Pick<Panel, 'gridPos'>[]): number {
  const rows = Math.max(0, ...panels.map((p) => p.gridPos.y + p.gridPos.h));
  return rows === 0 ? 0 : rows * GRID.cellHeight + (rows - 1) * GRID.margin;
}

// ---------------------------------------------------------------------------------------------
// Intervals and substitution, as Grafana's Prometheus data source computes them.

const NICE_INTERVALS: [below: number, ms: number][] = [
  [15, 10],
  [35, 20],
  [75, 50],
  [150, 100],
  [350, 200],
  [750, 500],
  [1_500, 1_000],
  [3_500, 2_000],
  [7_500, 5_000],
  [12_500, 10_000],
  [17_500, 15_000],
  [25_000, 20_000],
  [45_000, 30_000],
  [90_000, 60_000],
  [210_000, 120_000],
  [450_000, 300_000],
  [1_050_000, 600_000],
  [2_100_000, 1_800_000],
  [5_400_000, 3_600_000],
  [9_000_000, 7_200_000],
  [16_200_000, 10_800_000],
  [32_400_000, 21_600_000],
  [86_400_000, 43_200_000],
  [604_800_000, 86_400_000],
];

/** Grafana's `roundInterval`: a raw interval rounded to a nice one (10ms … 1d, then 1w). */
export function roundInterval(ms: number): number {
  for (const [below, nice] of NICE_INTERVALS) if (ms < below) return nice;
  return 604_800_000;
}

/**
 * `$__interval` (the query step) and `$__rate_interval` for a time range drawn over
 * `maxDataPoints` pixels with Prometheus scraping every `scrapeMs` (Grafana: the interval is
 * range / max data points, rounded, at least the scrape interval; the rate interval is
 * max(interval + scrape interval, 4 × scrape interval)).
 */
export function intervals(
  rangeMs: number,
  maxDataPoints: number,
  scrapeMs: number,
): { intervalMs: number; rateIntervalMs: number } {
  const intervalMs = Math.max(roundInterval(rangeMs / Math.max(1, maxDataPoints)), scrapeMs);
  return { intervalMs, rateIntervalMs: Math.max(intervalMs + scrapeMs, 4 * scrapeMs) };
}

/** A duration in milliseconds as PromQL writes it, in the largest unit that divides it (`4s`, `2m`). */
export function promDuration(ms: number): string {
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ];
  const r = Math.round(ms);
  for (const [u, size] of units) if (r >= size && r % size === 0) return `${r / size}${u}`;
  return `${r}ms`;
}

/** Parses `15s`, `1m`, `500ms`, `2h` into milliseconds. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(s.trim());
  if (!m) throw new Error(`not a duration: ${s}`);
  const size = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms'];
  return Number(m[1]) * size;
}

const regexEscape = (s: string): string => s.replace(/[\\^$*+?.()|[\]{}]/g, '\\$&');

/**
 * A variable's value as Grafana's Prometheus data source puts it into a query: All as the
 * variable's `allValue` (`.*` when it has none, where Grafana would list every option); for a
 * multi-value or All-able variable, values regex-escaped and several joined as `(a|b)`.
 */
export function variableText(v: Variable | undefined, value: string | string[] | undefined): string {
  const all = value === undefined || value === '$__all' || (Array.isArray(value) && value.includes('$__all'));
  if (all) return v?.allValue ?? '.*';
  const regex = v ? Boolean(v.multi || v.includeAll) : true;
  const values = Array.isArray(value) ? value : [value];
  if (!regex) return values.join(',');
  const escaped = values.map(regexEscape);
  return escaped.length === 1 ? escaped[0]! : `(${escaped.join('|')})`;
}

export type QueryContext = {
  rangeMs: number;
  intervalMs: number;
  rateIntervalMs: number;
  variables?: Variable[];
  values?: VarValues;
};

/**
 * A panel query with Grafana's variables substituted: the built-ins (`$__rate_interval`,
 * `$__interval`, `$__interval_ms`, `$__range`, `$__range_s`, `$__range_ms`) and the dashboard's
 * template variables in every syntax (`$name`, `${name}`, `${name:format}`, `[[name]]`). Names
 * that are neither are left as they are, as Grafana does.
 */
export function substitute(expr: string, ctx: QueryContext): string {
  const builtins: Record<string, string> = {
    __rate_interval: promDuration(ctx.rateIntervalMs),
    __interval_ms: String(Math.round(ctx.intervalMs)),
    __interval: promDuration(ctx.intervalMs),
    __range_ms: String(Math.round(ctx.rangeMs)),
    __range_s: String(Math.round(ctx.rangeMs / 1000)),
    __range: promDuration(ctx.rangeMs),
  };
  const vars = new Map((ctx.variables ?? []).map((v) => [v.name, v]));
  const known = (name: string): boolean => name in builtins || vars.has(name) || name in (ctx.values ?? {});
  const value = (name: string): string => builtins[name] ?? variableText(vars.get(name), ctx.values?.[name]);
  return expr.replace(
    /\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g,
    (whole, a?: string, b?: string, c?: string) => {
      const name = (a ?? b ?? c)!;
      return known(name) ? value(name) : whole;
    },
  );
}

/** A series' legend: `{{label}}` replaced by the series' labels; without a format, Prometheus's own name. */
export function legendName(format: string | undefined, labels: Record<string, string>): string {
  if (format && format !== '__auto') {
    return format.replace(/\{\{\s*(.+?)\s*\}\}/g, (_, l: string) => labels[l] ?? '');
  }
  const { __name__: name = '', ...rest } = labels;
  const pairs = Object.entries(rest).map(([k, v]) => `${k}="${v}"`);
  return pairs.length ? `${name}{${pairs.join(', ')}}` : name || '{}';
}

// ---------------------------------------------------------------------------------------------
// Colors: Grafana's classic palette and dark theme.

export const PALETTE = [
  '#7EB26D',
  '#EAB839',
  '#6ED0E0',
  '#EF843C',
  '#E24D42',
  '#1F78C1',
  '#BA43A9',
  '#705DA0',
  '#508642',
  '#CCA300',
  '#447EBC',
  '#C15C17',
  '#890F02',
  '#0A437C',
  '#6D1F62',
  '#584477',
];
const NAMED: Record<string, string> = {
  green: '#73BF69',
  red: '#F2495C',
  yellow: '#FADE2A',
  orange: '#FF9830',
  blue: '#5794F2',
  purple: '#B877D9',
  text: '#CCCCDC',
};
const DEFAULT_THRESHOLDS = [
  { color: 'green', value: null },
  { color: 'red', value: 80 },
];

/** The color of a stat value: the highest threshold step it reaches (Grafana's defaults: green, red from 80). */
export function thresholdColor(value: number | null, panel: Pick<Panel, 'fieldConfig'>): string {
  const steps = panel.fieldConfig?.defaults?.thresholds?.steps ?? DEFAULT_THRESHOLDS;
  let color = steps[0]?.color ?? 'green';
  for (const s of steps) if (s.value !== null && value !== null && value >= s.value) color = s.color;
  return NAMED[color] ?? color;
}

// ---------------------------------------------------------------------------------------------
// Queries.

export type Series = { name: string; color: string; values: (number | null)[] };
export type PanelData = { id: number; times: number[]; series: Series[]; error?: string };

type Matrix = { metric: Record<string, string>; values: [number, string][] }[];

async function queryRange(
  prometheus: string,
  expr: string,
  startS: number,
  endS: number,
  stepS: number,
): Promise<Matrix> {
  const res = await fetch(`${prometheus}/api/v1/query_range`, {
    method: 'POST',
    body: new URLSearchParams({ query: expr, start: String(startS), end: String(endS), step: String(stepS) }),
  });
  const body = (await res.json()) as { status: string; error?: string; data?: { result: Matrix } };
  if (body.status !== 'success') throw new Error(`${body.error ?? res.statusText}: ${expr}`);
  return body.data?.result ?? [];
}

/** Aligns Prometheus matrices (timestamps on start + k·step) into uPlot's columns. */
export function alignSeries(
  startS: number,
  endS: number,
  stepS: number,
  results: { legendFormat?: string; matrix: Matrix }[],
): { times: number[]; series: Omit<Series, 'color'>[] } {
  const n = Math.floor((endS - startS) / stepS) + 1;
  const times = Array.from({ length: n }, (_, i) => startS + i * stepS);
  const series = results.flatMap(({ legendFormat, matrix }) =>
    matrix.map((s) => {
      const values: (number | null)[] = Array(n).fill(null);
      for (const [t, v] of s.values) {
        const i = Math.round((t - startS) / stepS);
        const num = Number(v);
        if (i >= 0 && i < n && Number.isFinite(num)) values[i] = num;
      }
      return { name: legendName(legendFormat, s.metric), values };
    }),
  );
  return { times, series };
}

export type RenderOptions = {
  prometheus: string;
  /** Milliseconds since the epoch. */
  from: number;
  to: number;
  values?: VarValues;
  /** The Prometheus scrape interval, as Grafana's data source setting (Grafana's default is 15s). */
  scrapeMs?: number;
  /** The page width in pixels. */
  width?: number;
};

const PAGE_PADDING = 16;

/** Runs every visible target of every panel over the range; a failing panel carries its error. */
export async function queryPanels(dashboard: Dashboard, opts: RenderOptions): Promise<PanelData[]> {
  const boxes = new Map(
    layoutPanels(dashboard.panels, (opts.width ?? 1600) - 2 * PAGE_PADDING).map((b) => [b.id, b]),
  );
  const startS = Math.floor(opts.from / 1000);
  const endS = Math.floor(opts.to / 1000);
  const rangeMs = (endS - startS) * 1000;
  const out: PanelData[] = [];
  for (const panel of dashboard.panels) {
    if (panel.type === 'row' || !panel.targets?.length) continue;
    const { intervalMs, rateIntervalMs } = intervals(
      rangeMs,
      boxes.get(panel.id)?.width ?? 800,
      opts.scrapeMs ?? 15_000,
    );
    const stepS = Math.max(1, Math.round(intervalMs / 1000));
    const ctx: QueryContext = {
      rangeMs,
      intervalMs,
      rateIntervalMs,
      variables: dashboard.templating.list,
      values: opts.values ?? {},
    };
    try {
      const results = [];
      for (const t of panel.targets.filter((x) => !x.hide)) {
        const matrix = await queryRange(opts.prometheus, substitute(t.expr, ctx), startS, endS, stepS);
        results.push({ legendFormat: t.legendFormat, matrix });
      }
      const { times, series } = alignSeries(startS, endS, stepS, results);
      out.push({
        id: panel.id,
        times,
        series: series.map((s, i) => ({ ...s, color: PALETTE[i % PALETTE.length]! })),
      });
    } catch (err) {
      out.push({ id: panel.id, times: [], series: [], error: (err as Error).message });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The page.

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The last non-null value of a series (Grafana's `lastNotNull` reducer). */
export function lastNotNull(values: (number | null)[]): number | null {
  for (let i = values.length - 1; i >= 0; i--)
    if (values[i] !== null && values[i] !== undefined) return values[i]!;
  return null;
}

function panelHtml(panel: Panel, box: Box, data: PanelData | undefined): string {
  const style = `left:${box.left}px;top:${box.top}px;width:${box.width}px;height:${box.height}px`;
  if (panel.type === 'row') {
    return `<div class="row" style="${style}"><svg viewBox="0 0 16 16"><path d="M4 6l4 4 4-4" /></svg>${esc(panel.title)}</div>`;
  }
  const unit = panel.fieldConfig?.defaults?.unit ?? 'short';
  const decimals = panel.fieldConfig?.defaults?.decimals;
  let body: string;
  if (!data || data.error || data.series.length === 0) {
    body = `<div class="nodata">${esc(data?.error ?? 'No data')}</div>`;
  } else if (panel.type === 'stat') {
    body = `<div class="stats">${data.series
      .map((s) => {
        const v = lastNotNull(s.values);
        const text = formatValue(v, unit, decimals);
        return `<div class="stat" style="color:${thresholdColor(v, panel)}"><div class="spark" data-panel="${panel.id}" data-series="${esc(s.name)}"></div><div class="value" data-chars="${text.length}">${esc(text)}</div>${data.series.length > 1 ? `<div class="stat-name">${esc(s.name)}</div>` : ''}</div>`;
      })
      .join('')}</div>`;
  } else {
    const legend = data.series
      .map((s) => `<span class="item"><i style="background:${s.color}"></i>${esc(s.name)}</span>`)
      .join('');
    body = `<div class="chart" data-panel="${panel.id}"></div><div class="legend">${legend}</div>`;
  }
  return `<div class="panel panel-${esc(panel.type)}" style="${style}"><div class="title">${esc(panel.title)}</div><div class="content">${body}</div></div>`;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** A local time as Grafana shows absolute ranges: `2025-11-28 16:40:05`. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

function variablesHtml(dashboard: Dashboard, values: VarValues): string {
  return dashboard.templating.list
    .map((v) => {
      const value = v.type === 'datasource' ? 'Prometheus' : values[v.name];
      const text =
        value === undefined || value === '$__all' ? 'All' : Array.isArray(value) ? value.join(' + ') : value;
      return `<div class="var"><span class="label">${esc(v.label ?? v.name)}</span><span class="value">${esc(text)}<svg viewBox="0 0 16 16"><path d="M4 6l4 4 4-4" /></svg></span></div>`;
    })
    .join('');
}

/** uPlot's script and style, Sluice's unit formatter transpiled for the page, and the page's script. */
function assets(): { css: string; js: string } {
  const dist = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  const units = ts.transpileModule(readFileSync(join(HERE, 'units.ts'), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020 },
  }).outputText;
  return {
    css: readFileSync(join(dist, 'uPlot.min.css'), 'utf8'),
    js: [
      readFileSync(join(dist, 'uPlot.iife.min.js'), 'utf8'),
      `window.units = {};\n(function (exports) {\n${units}\n})(window.units);`,
      readFileSync(join(HERE, 'client.js'), 'utf8'),
    ].join('\n;\n'),
  };
}

/** The dashboard as one self-contained HTML page, `width` pixels wide; returns it and its height. */
export function renderHtml(
  dashboard: Dashboard,
  data: PanelData[],
  opts: Pick<RenderOptions, 'from' | 'to' | 'values' | 'width'> & { inline?: { css: string; js: string } },
): { html: string; height: number } {
  const width = opts.width ?? 1600;
  const gridWidth = width - 2 * PAGE_PADDING;
  const boxes = new Map(layoutPanels(dashboard.panels, gridWidth).map((b) => [b.id, b]));
  const byId = new Map(data.map((d) => [d.id, d]));
  const HEADER = 104;
  const height = HEADER + gridHeight(dashboard.panels) + PAGE_PADDING;
  const panels = dashboard.panels.map((p) => panelHtml(p, boxes.get(p.id)!, byId.get(p.id))).join('\n');
  const units = Object.fromEntries(
    dashboard.panels.map((p) => [p.id, { unit: p.fieldConfig?.defaults?.unit ?? 'short', type: p.type }]),
  );
  const payload = JSON.stringify({ data, units }).replace(/</g, '\\u003c');
  const { css, js } = opts.inline ?? { css: '', js: '' };
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(dashboard.title)}</title>
<style>${css}</style>
<style>${PAGE_CSS}</style></head>
<body style="width:${width}px;height:${height}px">
<div class="topbar"><span class="crumb">Home</span><span class="sep">›</span><span class="crumb">Dashboards</span><span class="sep">›</span><span class="dash">${esc(dashboard.title)}</span></div>
<div class="controls"><div class="vars">${variablesHtml(dashboard, opts.values ?? {})}</div>
<div class="time"><svg viewBox="0 0 16 16"><circle cx="8" cy="8" r="6.5" /><path d="M8 4.5V8l2.5 1.5" /></svg>${esc(formatTime(opts.from))} to ${esc(formatTime(opts.to))}</div></div>
<div class="grid" style="width:${gridWidth}px;height:${gridHeight(dashboard.panels)}px">
${panels}
</div>
<script>window.DASHBOARD = ${payload};</script>
<script>${js}</script>
</body></html>
`;
  return { html, height };
}

const PAGE_CSS = `
* { box-sizing: border-box; }
html, body { margin: 0; background: #111217; color: #ccccdc; overflow: hidden;
  font-family: Inter, "Helvetica Neue", Arial, "Liberation Sans", "DejaVu Sans", sans-serif; font-size: 14px; }
svg { width: 16px; height: 16px; fill: none; stroke: currentColor; stroke-width: 1.5; vertical-align: -3px; }
.topbar { height: 40px; display: flex; align-items: center; gap: 8px; padding: 0 16px; background: #181b1f;
  border-bottom: 1px solid rgba(204,204,220,0.12); font-size: 14px; }
.topbar .crumb, .topbar .sep { color: rgba(204,204,220,0.65); }
.topbar .dash { color: #ccccdc; font-weight: 500; }
.controls { height: 48px; display: flex; align-items: center; justify-content: space-between; padding: 0 16px; }
.vars { display: flex; gap: 8px; }
.var { display: flex; height: 32px; font-size: 13px; }
.var .label { display: flex; align-items: center; padding: 0 8px; background: #22252b; border: 1px solid rgba(204,204,220,0.2);
  border-right: none; border-radius: 2px 0 0 2px; font-weight: 500; }
.var .value { display: flex; align-items: center; gap: 6px; padding: 0 8px; background: #111217;
  border: 1px solid rgba(204,204,220,0.2); border-radius: 0 2px 2px 0; }
.var .value svg { color: rgba(204,204,220,0.65); }
.time { display: flex; align-items: center; gap: 8px; height: 32px; padding: 0 12px; font-size: 13px;
  border: 1px solid rgba(204,204,220,0.2); border-radius: 2px; background: #181b1f; }
.grid { position: relative; margin: 0 16px 16px; }
.row, .panel { position: absolute; }
.row { display: flex; align-items: center; gap: 6px; font-size: 16px; font-weight: 500; }
.panel { display: flex; flex-direction: column; background: #181b1f; border: 1px solid rgba(204,204,220,0.12); border-radius: 2px; }
.panel .title { height: 32px; line-height: 32px; padding: 0 8px; font-size: 14px; font-weight: 500; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; flex: none; }
.panel .content { flex: 1; min-height: 0; display: flex; flex-direction: column; padding: 0 8px 8px; }
.chart { flex: 1; min-height: 0; }
.legend { flex: none; display: flex; flex-wrap: wrap; gap: 2px 16px; padding-top: 6px; font-size: 12px; }
.legend .item { display: flex; align-items: center; gap: 6px; white-space: nowrap; }
.legend i { display: inline-block; width: 14px; height: 4px; border-radius: 2px; }
.nodata { flex: 1; display: flex; align-items: center; justify-content: center; color: rgba(204,204,220,0.65); font-size: 13px; padding: 8px; text-align: center; }
.stats { flex: 1; display: flex; gap: 8px; min-height: 0; }
.stat { flex: 1; position: relative; display: flex; flex-direction: column; align-items: center; justify-content: center; min-width: 0; }
.stat .spark { position: absolute; left: 0; right: 0; bottom: 0; height: 55%; }
.stat .value { position: relative; font-weight: 500; line-height: 1; }
.stat .stat-name { position: relative; font-size: 13px; color: #ccccdc; }
`;

// ---------------------------------------------------------------------------------------------
// The screenshot.

/** Flags that keep Chromium off every network: no background services, a dead proxy, no DNS. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--hide-scrollbars',
  '--force-device-scale-factor=1',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-default-apps',
  '--disable-extensions',
  '--disable-sync',
  '--disable-domain-reliability',
  '--disable-client-side-phishing-detection',
  '--metrics-recording-only',
  '--proxy-server=127.0.0.1:9',
  '--host-resolver-rules=MAP * ~NOTFOUND',
  '--virtual-time-budget=5000',
];

/** Screenshots a local HTML file with headless Chromium into `out` (PNG), `width`×`height` pixels. */
export async function screenshot(
  htmlFile: string,
  out: string,
  width: number,
  height: number,
  chromium = process.env.CHROMIUM ?? 'chromium',
): Promise<void> {
  const profile = mkdtempSync(join(tmpdir(), 'sluice-chromium-'));
  mkdirSync(dirname(out), { recursive: true });
  rmSync(out, { force: true });
  try {
    const args = [
      ...CHROMIUM_FLAGS,
      `--user-data-dir=${profile}`,
      `--window-size=${width},${height}`,
      `--screenshot=${resolve(out)}`,
      pathToFileURL(htmlFile).href,
    ];
    const child = spawn(chromium, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (b: Buffer) => void (log = (log + b.toString()).slice(-8000)));
    child.stderr.on('data', (b: Buffer) => void (log = (log + b.toString()).slice(-8000)));
    const code = await new Promise<number | null>((res, rej) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        rej(new Error(`chromium did not finish in 60 s\n${log}`));
      }, 60_000);
      child.once('error', (e) => {
        clearTimeout(t);
        rej(e);
      });
      child.once('exit', (c) => {
        clearTimeout(t);
        res(c);
      });
    });
    if (code !== 0 || !existsSync(out) || statSync(out).size === 0) {
      throw new Error(`chromium exited ${code} without a screenshot\n${log}`);
    }
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Queries, lays out and screenshots a dashboard into `out`; returns the panels' data. */
export async function renderDashboard(
  dashboard: Dashboard,
  out: string,
  opts: RenderOptions & { html?: string },
): Promise<PanelData[]> {
  const width = opts.width ?? 1600;
  const data = await queryPanels(dashboard, { ...opts, width });
  const { html, height } = renderHtml(dashboard, data, { ...opts, width, inline: assets() });
  const dir = mkdtempSync(join(tmpdir(), 'sluice-dashboard-'));
  try {
    const file = join(dir, 'dashboard.html');
    writeFileSync(file, html);
    if (opts.html) writeFileSync(opts.html, html);
    await screenshot(file, out, width, height);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return data;
}

/** The overview dashboard's file: the main one. */
export const OVERVIEW = resolve(HERE, '../../deploy/grafana/sluice-overview.json');

export function loadDashboard(file = OVERVIEW): Dashboard {
  return JSON.parse(readFileSync(file, 'utf8')) as Dashboard;
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      prometheus: { type: 'string' },
      dashboard: { type: 'string', default: OVERVIEW },
      out: { type: 'string', default: 'docs/images/dashboard-function-overview.png' },
      from: { type: 'string', default: 'now-1h' },
      to: { type: 'string' },
      var: { type: 'string', multiple: true, default: [] },
      'scrape-interval': { type: 'string', default: '15s' },
      width: { type: 'string', default: '1600' },
      html: { type: 'string' },
    },
  });
  if (!a.prometheus) throw new Error('--prometheus http://127.0.0.1:PORT is required');
  const to = a.to ? Number(a.to) : Date.now();
  const from = a.from.startsWith('now-') ? to - parseDuration(a.from.slice(4)) : Number(a.from);
  const values: VarValues = {};
  for (const kv of a.var) {
    const [k, v = ''] = kv.split('=');
    values[k!] = v.includes(',') ? v.split(',') : v;
  }
  const data = await renderDashboard(loadDashboard(a.dashboard), a.out, {
    prometheus: a.prometheus,
    from,
    to,
    values,
    scrapeMs: parseDuration(a['scrape-interval']),
    width: Number(a.width),
    ...(a.html ? { html: a.html } : {}),
  });
  const empty = data.filter((d) => d.error || d.series.length === 0).map((d) => d.id);
  console.log(`${a.out}: ${data.length} panels${empty.length ? `, without data: ${empty.join(', ')}` : ''}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
