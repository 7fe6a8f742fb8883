/**
 * A small area chart in the terminal, for price histories: block characters (eighths of a cell
 * high), the highest and lowest value on the left axis, and the first and last time below.
 *
 *   $2.45 ┤        ▂▅█▆▃
 *         │▁▃▅▆▇██████████▅▃▁
 *   $1.23 ┤██████████████████████
 *         └──────────────────────
 *          Jun 24             Jul 1
 */
const EIGHTHS = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];

export interface ChartOptions {
  /** Rows of bars; 6 by default. */
  height?: number;
  /** Columns of bars at most; the points are averaged into them. 60 by default. */
  width?: number;
  /** How an axis value reads, e.g. dollars. */
  label: (value: number) => string;
  /** The first and last point's times, under the chart's ends. */
  from: string;
  to: string;
}

export function areaChart(values: readonly number[], options: ChartOptions): string[] {
  if (values.length === 0) return [];
  const height = options.height ?? 6;
  const columns = resample(values, Math.min(options.width ?? 60, values.length));
  const low = Math.min(...columns);
  const high = Math.max(...columns);
  // A flat series still shows as a bar of some height, not as nothing.
  const span = high - low || 1;
  // The lowest value fills the bottom row, the highest the whole column.
  const eighths = columns.map((v) => Math.round(((v - low) / span) * (height - 1) * 8) + 8);
  const top = options.label(high);
  const bottom = options.label(low);
  const axis = Math.max(top.length, bottom.length);
  const rows: string[] = [];
  for (let row = height - 1; row >= 0; row--) {
    const cells = eighths.map((e) => EIGHTHS[Math.max(0, Math.min(8, e - row * 8))]).join("");
    const label = row === height - 1 ? top : row === 0 ? bottom : "";
    rows.push(`${label.padStart(axis)} ${label === "" ? "│" : "┤"}${cells}`);
  }
  rows.push(`${" ".repeat(axis)} └${"─".repeat(columns.length)}`);
  const gap = Math.max(1, columns.length + 1 - options.from.length - options.to.length);
  rows.push(`${" ".repeat(axis + 2)}${options.from}${" ".repeat(gap)}${options.to}`);
  return rows;
}

/** `values` averaged into `count` buckets of (nearly) equal size. */
function resample(values: readonly number[], count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const bucket = values.slice(Math.floor((i * values.length) / count), Math.floor(((i + 1) * values.length) / count));
    out.push(bucket.reduce((sum, v) => sum + v, 0) / bucket.length);
  }
  return out;
}
