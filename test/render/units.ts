/**
 * Grafana's value formatting for the units Sluice's dashboards use (reqps, ops, percentunit, s,
 * bytes, short, …), after Grafana's `valueFormats`: automatic decimals, scaled suffixes.
 *
 * This file is self-contained on purpose (no imports): the dashboard renderer also transpiles it
 * into the rendered page, where the chart axes format their ticks with it.
 */

/** Grafana's automatic decimals (`getDecimalsForValue`): about three significant digits, none for integers. */
export function decimalsFor(value: number): number {
  const abs = Math.abs(value);
  if (abs === 0 || !Number.isFinite(abs) || value % 1 === 0) return 0;
  let dec = -Math.floor(Math.log10(abs)) + 1;
  const norm = abs / Math.pow(10, -dec);
  if (norm > 2.25) ++dec;
  return Math.max(0, dec);
}

/** A number with the given (or automatic) decimals, trailing zeros of automatic ones dropped. */
export function toFixed(value: number, decimals?: number): string {
  if (!Number.isFinite(value)) return String(value);
  const dec = decimals ?? decimalsFor(value);
  if (value === 0) return '0';
  const factor = Math.pow(10, dec);
  const rounded = Math.round(value * factor) / factor;
  return decimals === undefined ? String(rounded) : rounded.toFixed(dec);
}

/** `value` scaled by powers of `factor` and suffixed (`1.5 K`, `12 MiB`). */
function scaled(value: number, factor: number, suffixes: string[], decimals?: number): string {
  const index =
    value === 0
      ? 0
      : Math.min(Math.max(Math.floor(Math.log(Math.abs(value)) / Math.log(factor)), 0), suffixes.length - 1);
  return `${toFixed(value / Math.pow(factor, index), decimals)}${suffixes[index]}`;
}

/** Seconds as Grafana's `s` unit shows them: ns, µs, ms below a second; min, hour, day above. */
function seconds(value: number, decimals?: number): string {
  const abs = Math.abs(value);
  if (abs === 0) return '0 s';
  if (abs < 0.000001) return `${toFixed(value * 1e9, decimals)} ns`;
  if (abs < 0.001) return `${toFixed(value * 1e6, decimals)} µs`;
  if (abs < 1) return `${toFixed(value * 1e3, decimals)} ms`;
  if (abs < 60) return `${toFixed(value, decimals)} s`;
  if (abs < 3600) return `${toFixed(value / 60, decimals)} min`;
  if (abs < 86400) return `${toFixed(value / 3600, decimals)} hour`;
  return `${toFixed(value / 86400, decimals)} day`;
}

/** A value in a Grafana unit; unknown units print the bare number followed by the unit. */
export function formatValue(value: number | null | undefined, unit = 'short', decimals?: number): string {
  if (value === null || value === undefined || Number.isNaN(value)) return 'No data';
  switch (unit) {
    case 'reqps':
      return `${toFixed(value, decimals)} req/s`;
    case 'ops':
      return `${toFixed(value, decimals)} ops/s`;
    case 'percentunit':
      return `${toFixed(value * 100, decimals)}%`;
    case 'percent':
      return `${toFixed(value, decimals)}%`;
    case 's':
      return seconds(value, decimals);
    case 'ms':
      return seconds(value / 1000, decimals);
    case 'bytes':
      return scaled(value, 1024, [' B', ' KiB', ' MiB', ' GiB', ' TiB', ' PiB'], decimals);
    case 'decbytes':
      return scaled(value, 1000, [' B', ' kB', ' MB', ' GB', ' TB', ' PB'], decimals);
    case 'short':
      return scaled(value, 1000, ['', ' K', ' Mil', ' Bil', ' Tri'], decimals);
    case 'none':
      return toFixed(value, decimals);
    default:
      return `${toFixed(value, decimals)} ${unit}`;
  }
}
