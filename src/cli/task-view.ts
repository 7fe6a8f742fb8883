/**
 * How tasks look in the terminal: one task in detail (`flow status <task>`), many as a table
 * (`flow list`, `flow status`), and the line that ends a wait.
 */
import type { Task } from "../task/task.ts";
import { formatDuration, formatTable, paint, paintStatus } from "./output.ts";

export function describeTask(task: Task): string {
  const rows: [string, string][] = [
    ["status", `${paintStatus(task.status)}${task.message === undefined ? "" : ` (${task.message})`}`],
    ["instance", `${task.instanceType} × ${task.numInstances}, ${task.region}, ${task.costPerHour}/h`],
    ["command", commandText(task)],
    ["created", task.createdAt.toISOString()],
  ];
  if (task.startedAt !== undefined) rows.push(["started", task.startedAt.toISOString()]);
  if (task.completedAt !== undefined) rows.push(["ended", task.completedAt.toISOString()]);
  rows.push(["ran for", formatDuration(runningTimeMs(task))]);
  if (task.exitCode !== undefined) rows.push(["exit code", String(task.exitCode)]);
  const workspace = task.providerMetadata["workspace"];
  if (typeof workspace === "string") rows.push(["workspace", workspace]);
  if (task.shellCommand !== undefined) rows.push(["ssh", task.shellCommand]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return [`${paint(task.taskId, "bold")}  ${task.name}`, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)].join("\n");
}

export function taskTable(tasks: readonly Task[]): string {
  return formatTable(
    ["ID", "NAME", "STATUS", "INSTANCE", "CREATED", "RAN FOR"],
    tasks.map((t) => [t.taskId, t.name, paintStatus(t.status), t.instanceType, `${formatDuration(Date.now() - t.createdAt.getTime())} ago`, formatDuration(runningTimeMs(t))]),
  );
}

/** `task-… completed in 3s`, `task-… failed after 1m 02s: exited with code 3`. */
export function outcomeLine(task: Task): string {
  const took = formatDuration(runningTimeMs(task));
  if (task.status === "completed") return `${task.taskId} ${paintStatus(task.status)} in ${took}`;
  return `${task.taskId} ${paintStatus(task.status)} after ${took}${task.message === undefined ? "" : `: ${task.message}`}`;
}

/** What `flow run --wait` exits with: 0 for completed, else the task's exit code, else 1. */
export function exitCodeOf(task: Task): number {
  if (task.status === "completed") return 0;
  const code = task.exitCode;
  return code !== undefined && code > 0 && code < 256 ? code : 1;
}

function runningTimeMs(task: Task): number {
  if (task.startedAt === undefined) return 0;
  return (task.completedAt ?? new Date()).getTime() - task.startedAt.getTime();
}

function commandText(task: Task): string {
  const command = task.config?.command;
  if (command === undefined) return "(none: sleep infinity)";
  if (Array.isArray(command)) return command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ");
  const firstLine = command.trim().split("\n")[0] ?? "";
  return command.trim().includes("\n") ? `${firstLine} … (script)` : firstLine;
}
