/**
 * How the CLI writes: colors only on a terminal and never with NO_COLOR set, JSON for `--json`,
 * aligned tables, and durations and statuses the same way in every command.
 */
import type { TaskStatus } from "../task/task-status.ts";

export function colorEnabled(stream: NodeJS.WriteStream): boolean {
  const noColor = process.env["NO_COLOR"];
  return stream.isTTY === true && (noColor === undefined || noColor === "");
}

const CODES = { red: 31, green: 32, yellow: 33, cyan: 36, dim: 2, bold: 1 } as const;
export type Style = keyof typeof CODES;

export function paint(text: string, style: Style, stream: NodeJS.WriteStream = process.stdout): string {
  return colorEnabled(stream) ? `\x1b[${CODES[style]}m${text}\x1b[0m` : text;
}

const STATUS_STYLE: Record<TaskStatus, Style> = {
  pending: "dim",
  running: "cyan",
  paused: "yellow",
  preempting: "yellow",
  completed: "green",
  failed: "red",
  cancelled: "yellow",
};

export function paintStatus(status: TaskStatus, stream: NodeJS.WriteStream = process.stdout): string {
  return paint(status, STATUS_STYLE[status], stream);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** `42s`, `3m 07s`, `2h 05m`. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`;
}

/** Rows under a header, columns padded to their widest cell (colors are not counted). */
export function formatTable(header: string[], rows: string[][]): string {
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "").length;
  const widths = header.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i] ?? ""))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + " ".repeat((widths[i] ?? 0) - visible(c))))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** `2030-07-01T09:00:00Z`: to the second, in UTC. */
export function formatTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Dollars with cents: `$12.50`. */
export function usd(amount: number): string {
  return `$${amount.toFixed(2)}`;
}

/** `key  value` rows under a title, keys aligned: the detail view of one thing. */
export function formatDetails(title: string, rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([key]) => key.length));
  return [title, ...rows.map(([key, value]) => `  ${key.padEnd(width)}  ${value}`)].join("\n");
}
