/** `flow list [--status S] [--limit N]`: tasks, newest first; on the local provider, detached calls below them. */
import { listDetachedCalls } from "../../app/detached-call.ts";
import { flowFor, ListFlagsSchema, parseFlags } from "../cli-inputs.ts";
import { formatDuration, formatTable, paintStatus, printJson } from "../output.ts";
import { taskTable } from "../task-view.ts";

const DEFAULT_LIMIT = 20;

export async function listCommand(options: { provider?: string; json?: boolean; status?: string; limit?: string }): Promise<void> {
  const { status, limit } = parseFlags(ListFlagsSchema, { status: options.status, limit: options.limit });
  const flow = flowFor(options.provider);
  const tasks = await flow.listTasks({ limit: limit ?? DEFAULT_LIMIT, ...(status === undefined ? {} : { status }) });
  if (options.json) return printJson(tasks);
  if (tasks.length === 0) process.stdout.write(status === undefined ? "No tasks.\n" : `No ${status} tasks.\n`);
  else process.stdout.write(`${taskTable(tasks)}\n`);
  // Detached calls live on this machine (local provider only, for now).
  if (flow.provider.name !== "local") return;
  const calls = listDetachedCalls()
    .filter((call) => status === undefined || call.status === status)
    .slice(0, limit ?? DEFAULT_LIMIT);
  if (calls.length === 0) return;
  const rows = calls.map((call) => [call.taskId, call.record.functionId, paintStatus(call.status), `${formatDuration(Date.now() - Date.parse(call.record.createdAt))} ago`]);
  process.stdout.write(`\nDetached calls (flow result <id>):\n${formatTable(["ID", "FUNCTION", "STATUS", "STARTED"], rows)}\n`);
}
