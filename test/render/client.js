/* global document, window, uPlot */
// The rendered dashboard page's script (see dashboard.ts): draws each time series panel and each
// stat panel's sparkline with uPlot into the boxes the page already laid out, formatting the
// y axis with Sluice's copy of Grafana's units (window.units), and sizes stat values to fit.
(function () {
  const { data, units } = window.DASHBOARD;
  const byId = new Map(data.map((d) => [String(d.id), d]));
  const FONT = '12px Inter, "Helvetica Neue", Arial, "Liberation Sans", "DejaVu Sans", sans-serif';
  const TEXT = 'rgba(204, 204, 220, 0.65)';
  const GRID = 'rgba(204, 204, 220, 0.08)';
  const hms = uPlot.fmtDate('{HH}:{mm}:{ss}');
  const hm = uPlot.fmtDate('{HH}:{mm}');

  const alpha = (hex, a) =>
    `rgba(${parseInt(hex.slice(1, 3), 16)}, ${parseInt(hex.slice(3, 5), 16)}, ${parseInt(hex.slice(5, 7), 16)}, ${a})`;

  // Grafana's y range: from 0 for non-negative data, a little headroom, nice round ends.
  const yRange = (u, min, max) => {
    const lo = min === null ? 0 : Math.min(0, min);
    let hi = max === null ? 1 : max;
    if (hi <= lo) hi = lo + 1;
    const [a, b] = uPlot.rangeNum(lo, hi, 0.1, true);
    return [lo >= 0 ? 0 : a, b];
  };

  const axisSize = (self, values, axisIdx) => {
    if (!values) return 40;
    self.ctx.font = FONT;
    const widest = Math.max(...values.map((v) => self.ctx.measureText(v).width));
    return Math.ceil(widest) + (axisIdx === 0 ? 0 : 14);
  };

  for (const el of document.querySelectorAll('.chart')) {
    const d = byId.get(el.dataset.panel);
    const { unit } = units[el.dataset.panel];
    const opts = {
      width: el.clientWidth,
      height: el.clientHeight,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: true }, y: { range: yRange } },
      axes: [
        {
          stroke: TEXT,
          font: FONT,
          grid: { stroke: GRID, width: 1 },
          ticks: { show: false },
          size: 24,
          gap: 6,
          space: 60,
          values: (u, splits, axisIdx, space, incr) =>
            splits.map((t) => (incr < 60 ? hms : hm)(new Date(t * 1000))),
        },
        {
          stroke: TEXT,
          font: FONT,
          grid: { stroke: GRID, width: 1 },
          ticks: { show: false },
          gap: 8,
          size: axisSize,
          values: (u, splits) => splits.map((v) => window.units.formatValue(v, unit)),
        },
      ],
      series: [
        {},
        ...d.series.map((s) => ({
          label: s.name,
          stroke: s.color,
          width: 1.25,
          fill: alpha(s.color, 0.06),
          points: { show: d.times.length < 25, size: 4, fill: s.color },
          spanGaps: false,
        })),
      ],
    };
    new uPlot(opts, [d.times, ...d.series.map((s) => s.values)], el);
  }

  for (const el of document.querySelectorAll('.spark')) {
    const d = byId.get(el.dataset.panel);
    const s = d.series.find((x) => x.name === el.dataset.series);
    const color = el.parentElement.style.color;
    new uPlot(
      {
        width: el.clientWidth,
        height: el.clientHeight,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: true }, y: { range: yRange } },
        axes: [{ show: false }, { show: false }],
        series: [
          {},
          {
            stroke: color,
            width: 1.5,
            fill: color.replace('rgb(', 'rgba(').replace(')', ', 0.15)'),
            points: { show: false },
          },
        ],
      },
      [d.times, s.values],
      el,
    );
  }

  // Stat values as large as fit: Grafana's auto text size.
  for (const el of document.querySelectorAll('.stat .value')) {
    const box = el.parentElement;
    const chars = Number(el.dataset.chars) || 1;
    const size = Math.min(box.clientHeight * 0.38, box.clientWidth / (chars * 0.62), 72);
    el.style.fontSize = `${Math.max(14, Math.floor(size))}px`;
  }
})();
