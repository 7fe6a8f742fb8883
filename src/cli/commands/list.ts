/** `flow list [--status S] [--limit N]`: tasks, newest first; detached calls of the same provider below them. */
import { listDetachedCalls, type DetachedCall } from "../../calls/detached-call.ts";
import { flowFor, ListFlagsSchema, parseFlags } from "../cli-inputs.ts";
import { formatDuration, formatTable, paintStatus, printJson } from "../output.ts";
import { taskTable } from "../task-view.ts";

const DEFAULT_LIMIT = 20;

export async function listCommand(options: { provider?: string; json?: boolean; status?: string; limit?: string }): Promise<void> {
  const { status, limit } = parseFlags(ListFlagsSchema, { status: options.status, limit: options.limit });
  const flow = flowFor(options.provider);
  const tasks = await flow.listTasks({ limit: limit ?? DEFAULT_LIMIT, ...(status === undefined ? {} : { status }) });
  const calls = await detachedCalls(flow.provider.name, status, limit ?? DEFAULT_LIMIT);
  const costs = await Promise.all(calls.map((call) => call.cost()));
  if (options.json) return printJson([...tasks, ...calls.map((call, i) => callView(call, costs[i]))]);
  if (tasks.length === 0) process.stdout.write(status === undefined ? "No tasks.\n" : `No ${status} tasks.\n`);
  else process.stdout.write(`${taskTable(tasks)}\n`);
  if (calls.length === 0) return;
  const rows = calls.map((call, i) => [
    call.taskId,
    call.record.functionId,
    paintStatus(call.status),
    `${formatDuration(Date.now() - Date.parse(call.record.createdAt))} ago`,
    costs[i] ?? "-",
  ]);
  process.stdout.write(`\nDetached calls (flow result <id>):\n${formatTable(["ID", "FUNCTION", "STATUS", "STARTED", "COST"], rows)}\n`);
}

/**
 * The detached calls this machine started on `provider` (their records live here), newest first.
 * Those on the cloud that had not ended when last seen are looked at again; one that cannot be
 * reached now is shown as last seen.
 */
async function detachedCalls(provider: string, status: string | undefined, limit: number): Promise<DetachedCall[]> {
  const calls = listDetachedCalls().filter((call) => call.record.provider === provider);
  await Promise.all(calls.filter((call) => !call.isTerminal).map((call) => call.refresh().catch(() => {})));
  return calls.filter((call) => status === undefined || call.status === status).slice(0, limit);
}

/** A detached call in `flow list --json`, beside the tasks: `kind` tells them apart. */
function callView(call: DetachedCall, totalCost: string | undefined): Record<string, unknown> {
  const { functionId, createdAt, provider, resultWindowMs } = call.record;
  return {
    kind: "detached-call",
    taskId: call.taskId,
    functionId,
    status: call.status,
    ...(call.message === undefined ? {} : { message: call.message }),
    createdAt,
    provider,
    resultWindowMs,
    ...(totalCost === undefined ? {} : { totalCost }),
  };
}
