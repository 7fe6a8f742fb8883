/**
 * How tasks look in the terminal: one task in detail (`flow status <task>`), many as a table
 * (`flow list`, `flow status`), and the line that ends a wait.
 */
import type { Task } from "../client/task.ts";
import { formatDuration, formatTable, paint, paintStatus } from "./output.ts";

/** `extra`: rows a command knows beyond the task's own (a dev machine's autostop). */
export function describeTask(task: Task, extra: readonly (readonly [string, string])[] = []): string {
  const rows: [string, string][] = [
    ["status", `${paintStatus(task.status)}${task.message === undefined ? "" : ` (${task.message})`}`],
    ["instance", runsHere(task) ? `this machine (local provider${notApplied(task)})` : placement(task)],
    ["command", commandText(task)],
    ["created", task.createdAt.toISOString()],
  ];
  if (task.startedAt !== undefined) rows.push(["started", task.startedAt.toISOString()]);
  if (task.completedAt !== undefined) rows.push(["ended", task.completedAt.toISOString()]);
  rows.push(["ran for", formatDuration(runningTimeMs(task))]);
  if (!runsHere(task)) rows.push(["cost", costText(task)]);
  if (task.exitCode !== undefined) rows.push(["exit code", String(task.exitCode)]);
  for (const attempt of task.attempts ?? []) {
    const took = attempt.endedAt === undefined ? "" : ` for ${formatDuration(attempt.endedAt.getTime() - attempt.startedAt.getTime())}`;
    rows.push([`attempt ${attempt.attempt}`, `${attempt.id} from ${attempt.startedAt.toISOString()}${took}${attempt.outcome === undefined ? (attempt.attempt === task.attempt ? " (current)" : "") : `: ${attempt.outcome}`}`]);
  }
  for (const [port, url] of Object.entries(task.endpoints)) rows.push([`port ${port}`, url]);
  const workspace = task.providerMetadata["workspace"];
  if (typeof workspace === "string") rows.push(["workspace", workspace]);
  if (task.shellCommand !== undefined) rows.push(["ssh", task.shellCommand]);
  rows.push(...extra.map(([key, value]): [string, string] => [key, value]));
  const width = Math.max(...rows.map(([k]) => k.length));
  return [`${paint(task.taskId, "bold")}  ${task.name}`, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)].join("\n");
}

export function taskTable(tasks: readonly Task[]): string {
  return formatTable(
    ["ID", "NAME", "STATUS", "INSTANCE", "CREATED", "RAN FOR", "PRICE/H", "COST"],
    tasks.map((t) => [
      t.taskId,
      t.name,
      `${paintStatus(t.status)}${isOutbid(t) ? " (outbid)" : ""}${(t.attempt ?? 1) > 1 ? ` (attempt ${t.attempt})` : ""}`,
      t.instanceType,
      `${formatDuration(Date.now() - t.createdAt.getTime())} ago`,
      formatDuration(runningTimeMs(t)),
      // A local task has no price: it runs on this machine.
      runsHere(t) ? "-" : pricePaid(t),
      runsHere(t) ? "-" : (t.totalCost ?? "-"),
    ]),
  );
}

/** A cloud task whose bid is under the spot price: it waits until its limit is raised. */
export function isOutbid(task: Task): boolean {
  return task.providerMetadata["outbid"] === true;
}

/** A cloud bid's limit price (`$2.50`): what it may cost, where costPerHour is what it pays. */
export function bidLimit(task: Task): string | undefined {
  const limit = task.providerMetadata["limitPrice"];
  return typeof limit === "string" ? limit : undefined;
}

/** `$2.00/h paid (bid up to $2.50/h), $0.37 so far` (or `in all`, once it ended). */
function costText(task: Task): string {
  const limit = bidLimit(task);
  const bid = limit !== undefined && limit !== task.costPerHour ? ` (bid up to ${limit}/h)` : "";
  const per = task.numInstances > 1 ? " per instance" : "";
  const total = task.totalCost === undefined ? "" : `, ${task.totalCost} ${task.isTerminal ? "in all" : "so far"}`;
  return `${task.costPerHour}/h${per}${paidYet(task) ? " paid" : " at most"}${bid}${total}`;
}

function pricePaid(task: Task): string {
  return paidYet(task) ? task.costPerHour : `≤${task.costPerHour}`;
}

/** Whether costPerHour is a price paid (billed) rather than the bid's limit. */
function paidYet(task: Task): boolean {
  return runsHere(task) || task.providerMetadata["limitPrice"] !== task.costPerHour || (task.totalCost !== undefined && task.totalCost !== "$0.00");
}

/**
 * What `flow run` says once a task is submitted: where it runs and, on the cloud, what it may cost.
 * `Submitted bid_… (train-1a2b3c): 1 × a100-80gb.sxm.1x in us-central1-b, up to $2.50/h`.
 */
export function submittedLine(task: Task): string {
  const head = `Submitted ${paint(task.taskId, "bold")} (${task.name})`;
  if (runsHere(task)) return `${head} (local: runs on this machine${notApplied(task)}; add --provider fcp for the cloud)`;
  return `${head}: ${where(task)}`;
}

/** `1 × a100-80gb.sxm.1x in us-central1-b`, or `…, reserved (res_…)`: where it runs; the cost row says what it costs. */
function placement(task: Task): string {
  const reservation = task.providerMetadata["reservation"];
  return `${task.numInstances} × ${task.instanceType} in ${task.region}${typeof reservation === "string" ? `, reserved (${reservation})` : ""}`;
}

/** `1 × a100-80gb.sxm.1x in us-central1-b, up to $2.50/h`, or `…, reserved (res_…) at $2.16/h`. */
function where(task: Task): string {
  const reservation = task.providerMetadata["reservation"];
  const price = typeof reservation === "string" ? `reserved (${reservation}) at ${task.costPerHour}/h` : `up to ${bidLimit(task) ?? task.costPerHour}/h`;
  return `${task.numInstances} × ${task.instanceType} in ${task.region}, ${price}`;
}

/** `task-… completed in 3s`, `task-… failed after 1m 02s: exited with code 3`, `bid_… cancelled before it started: …`. */
export function outcomeLine(task: Task): string {
  const took = formatDuration(runningTimeMs(task));
  if (task.status === "completed") return `${task.taskId} ${paintStatus(task.status)} in ${took}`;
  const when = task.startedAt === undefined ? "before it started" : `after ${took}`;
  return `${task.taskId} ${paintStatus(task.status)} ${when}${task.message === undefined ? "" : `: ${task.message}`}`;
}

/** What a task that has not started waits for (`waiting for an instance (bid Open, …)`), if it waits. */
export function waitingFor(task: Task): string | undefined {
  return task.status === "pending" || task.status === "paused" || task.status === "preempting" ? task.message : undefined;
}

/** The local provider runs tasks on this machine: no instance type, region or price applies. */
function runsHere(task: Task): boolean {
  return task.providerMetadata["provider"] === "local";
}

/** `; instance type a100 is not applied locally`, for what the task asked of a machine it does not get. */
function notApplied(task: Task): string {
  const list = task.providerMetadata["notApplied"];
  if (!Array.isArray(list) || list.length === 0) return "";
  return `; ${list.join(", ")} ${list.length === 1 ? "is" : "are"} not applied locally`;
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
  const agentFor = task.providerMetadata["agentFor"];
  if (typeof agentFor === "string") return `(flow's agent for a ${agentFor})`;
  // A cloud task started elsewhere (another machine, the console) has no record here.
  if (task.config === undefined) return "(not known here: the task was not started from this machine)";
  const command = task.config.command;
  if (command === undefined) return "(none: sleep infinity)";
  if (Array.isArray(command)) return command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ");
  const firstLine = command.trim().split("\n")[0] ?? "";
  return command.trim().includes("\n") ? `${firstLine} … (script)` : firstLine;
}
