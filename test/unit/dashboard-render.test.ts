/**
 * The deterministic parts of the dashboard renderer (test/render): Grafana's intervals and
 * variable substitution, gridPos → pixel layout, unit formatting, series alignment and the page.
 * The screenshot itself (Chromium against a real Prometheus) is `make dashboard-png`.
 */
import { describe, expect, it } from 'vitest';
import {
  alignSeries,
  gridHeight,
  intervals,
  layoutPanels,
  legendName,
  lastNotNull,
  loadDashboard,
  promDuration,
  renderHtml,
  roundInterval,
  substitute,
  thresholdColor,
  variableText,
  type PanelData,
} from '../render/dashboard.js';
import { decimalsFor, formatValue } from '../render/units.js';
import { dashboards } from '../support/observability.js';

const overview = loadDashboard();

describe('intervals', () => {
  it('rounds raw intervals as Grafana does', () => {
    expect(roundInterval(594)).toBe(500);
    expect(roundInterval(1_200)).toBe(1_000);
    expect(roundInterval(14_000)).toBe(15_000);
    expect(roundInterval(100_000)).toBe(120_000);
    expect(roundInterval(10 ** 10)).toBe(604_800_000);
  });

  it('floors the interval at the scrape interval and derives $__rate_interval from both', () => {
    // 5 minutes over a 505 px panel, 1 s scrapes: 594 ms → 500 ms → 1 s; rate: max(1+1, 4×1) s.
    expect(intervals(300_000, 505, 1_000)).toEqual({ intervalMs: 1_000, rateIntervalMs: 4_000 });
    // 1 hour, 500 px, Grafana's default 15 s scrape: 7.2 s → 5 s → 15 s; rate: 4 × 15 s.
    expect(intervals(3_600_000, 500, 15_000)).toEqual({ intervalMs: 15_000, rateIntervalMs: 60_000 });
    // 1 day, 500 px: 172.8 s → 2 m; rate: 2 m + 15 s.
    expect(intervals(86_400_000, 500, 15_000)).toEqual({ intervalMs: 120_000, rateIntervalMs: 135_000 });
  });

  it('writes durations in the largest whole PromQL unit', () => {
    expect(promDuration(4_000)).toBe('4s');
    expect(promDuration(60_000)).toBe('1m');
    expect(promDuration(90_000)).toBe('90s');
    expect(promDuration(135_000)).toBe('135s');
    expect(promDuration(500)).toBe('500ms');
    expect(promDuration(7_200_000)).toBe('2h');
  });
});

describe('variable substitution', () => {
  const ctx = {
    rangeMs: 3_600_000,
    intervalMs: 15_000,
    rateIntervalMs: 60_000,
    variables: overview.templating.list,
  };

  it('fills an overview query with the selected namespace, All functions and the rate interval', () => {
    const panel = overview.panels.find((p) => p.title === 'Invocations by function')!;
    expect(substitute(panel.targets![0]!.expr, { ...ctx, values: { namespace: 'e2e-prom-1a2b3c' } })).toBe(
      'sum by (namespace, function) (rate(sluice_invocations_total{namespace=~"e2e-prom-1a2b3c", function=~".*"}[1m]))',
    );
  });

  it('knows every syntax, escapes regex values, joins several and leaves unknown names', () => {
    const values = { namespace: ['team.a', 'team-b'], function: 'api' };
    expect(
      substitute('${namespace} [[function]] ${function:regex} $__range $__range_s $__interval_ms $other', {
        ...ctx,
        values,
      }),
    ).toBe('(team\\.a|team-b) api api 1h 3600 15000 $other');
    expect(variableText({ name: 'x', type: 'query' }, '$__all')).toBe('.*');
    expect(variableText({ name: 'x', type: 'query', includeAll: true, allValue: 'a|b' }, undefined)).toBe(
      'a|b',
    );
    expect(variableText({ name: 'x', type: 'custom' }, ['a.b', 'c'])).toBe('a.b,c');
  });

  it('leaves no variable in any shipped dashboard query', () => {
    const left: string[] = [];
    for (const { file, d } of dashboards) {
      for (const p of d.panels) {
        for (const t of p.targets ?? []) {
          const out = substitute(t.expr, { ...ctx, variables: d.templating.list as never, values: {} });
          if (/\$|\[\[/.test(out)) left.push(`${file} "${p.title}": ${out}`);
        }
      }
    }
    expect(left).toEqual([]);
  });
});

describe('layout', () => {
  it('places gridPos on a 24-column grid with 30 px rows and 8 px margins', () => {
    const boxes = layoutPanels(overview.panels, 1568);
    const at = (title: string) => boxes[overview.panels.findIndex((p) => p.title === title)]!;
    expect(at('Totals')).toEqual({ id: 1, left: 0, top: 0, width: 1568, height: 30 });
    expect(at('Invocations / s')).toEqual({ id: 2, left: 0, top: 38, width: 517, height: 296 });
    expect(at('Error rate')).toEqual({ id: 3, left: 525, top: 38, width: 517, height: 296 });
    expect(at('Concurrent executions')).toEqual({ id: 4, left: 1051, top: 38, width: 517, height: 296 });
    expect(at('Replicas ready by function')).toEqual({
      id: 13,
      left: 525,
      top: 988,
      width: 517,
      height: 296,
    });
    // Side by side panels leave exactly one margin between them; the last ends at the edge.
    expect(at('Invocations / s').left + at('Invocations / s').width + 8).toBe(at('Error rate').left);
    expect(at('Concurrent executions').left + at('Concurrent executions').width).toBe(1568);
    expect(gridHeight(overview.panels)).toBe(34 * 30 + 33 * 8);
  });

  it('renders every panel at its box, titles escaped, and No data where a query returned nothing', () => {
    const data: PanelData[] = [
      { id: 6, times: [1, 2], series: [{ name: 'ns/<api>', color: '#7EB26D', values: [1, 2] }] },
      { id: 2, times: [1, 2], series: [{ name: 'invocations', color: '#7EB26D', values: [0.5, null] }] },
    ];
    const { html, height } = renderHtml(overview, data, { from: 0, to: 3_600_000, width: 1600 });
    expect(height).toBe(104 + 1284 + 16);
    expect(html).toContain(
      'style="left:525px;top:38px;width:517px;height:296px"><div class="title">Error rate</div>',
    );
    expect(html).toContain('ns/&lt;api&gt;');
    expect(html).toContain('>0.5 req/s</div>');
    expect(html.match(/class="nodata">No data</g)).toHaveLength(overview.panels.length - 2 - 2);
    expect(html.match(/class="row"/g)).toHaveLength(2);
  });
});

describe('units', () => {
  it('formats values as Grafana does for the units the dashboards use', () => {
    expect(formatValue(0.5, 'reqps')).toBe('0.5 req/s');
    expect(formatValue(12.345, 'reqps')).toBe('12.3 req/s');
    expect(formatValue(2 / 3, 'ops')).toBe('0.667 ops/s');
    expect(formatValue(0.1234, 'percentunit')).toBe('12.3%');
    expect(formatValue(0.25, 's')).toBe('250 ms');
    expect(formatValue(1.5, 's')).toBe('1.5 s');
    expect(formatValue(90, 's')).toBe('1.5 min');
    expect(formatValue(0.0004, 's')).toBe('400 µs');
    expect(formatValue(1536, 'bytes')).toBe('1.5 KiB');
    expect(formatValue(52_428_800, 'bytes')).toBe('50 MiB');
    expect(formatValue(2500, 'short')).toBe('2.5 K');
    expect(formatValue(3, 'short')).toBe('3');
    expect(formatValue(0, 'reqps')).toBe('0 req/s');
    expect(formatValue(null, 'reqps')).toBe('No data');
    expect(formatValue(2, 'short', 2)).toBe('2.00');
    expect(decimalsFor(0.004)).toBe(5);
    expect(formatValue(0.00412345, 'none')).toBe('0.00412');
    expect(formatValue(1234.5678, 'none')).toBe('1235');
  });
});

describe('series', () => {
  it('aligns Prometheus matrices on the step grid and names them by the legend format', () => {
    const { times, series } = alignSeries(100, 110, 2, [
      {
        legendFormat: '{{namespace}}/{{ function }}',
        matrix: [
          {
            metric: { namespace: 'ns', function: 'api' },
            values: [
              [102, '1.5'],
              [106, 'NaN'],
              [110, '3'],
            ],
          },
        ],
      },
      { matrix: [{ metric: { __name__: 'up', pod: 'p' }, values: [[104, '1']] }] },
    ]);
    expect(times).toEqual([100, 102, 104, 106, 108, 110]);
    expect(series).toEqual([
      { name: 'ns/api', values: [null, 1.5, null, null, null, 3] },
      { name: 'up{pod="p"}', values: [null, null, 1, null, null, null] },
    ]);
    expect(lastNotNull([1, 2, null])).toBe(2);
    expect(lastNotNull([null])).toBeNull();
    expect(legendName('{{type}} {{outcome}}', { type: 'sync', outcome: 'success' })).toBe('sync success');
  });

  it('colors stat values by threshold steps (Grafana default: green, red from 80)', () => {
    expect(thresholdColor(0.5, {})).toBe('#73BF69');
    expect(thresholdColor(95, {})).toBe('#F2495C');
    expect(
      thresholdColor(5, {
        fieldConfig: {
          defaults: {
            thresholds: {
              steps: [
                { color: 'blue', value: null },
                { color: '#abcdef', value: 3 },
              ],
            },
          },
        },
      }),
    ).toBe('#abcdef');
  });
});
