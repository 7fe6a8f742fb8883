/** `flow list [--status S] [--limit N]`: tasks, newest first. */
import { flowFor, ListFlagsSchema, parseFlags } from "../cli-inputs.ts";
import { printJson } from "../output.ts";
import { taskTable } from "../task-view.ts";

const DEFAULT_LIMIT = 20;

export async function listCommand(options: { provider?: string; json?: boolean; status?: string; limit?: string }): Promise<void> {
  const { status, limit } = parseFlags(ListFlagsSchema, { status: options.status, limit: options.limit });
  const tasks = await flowFor(options.provider).listTasks({ limit: limit ?? DEFAULT_LIMIT, ...(status === undefined ? {} : { status }) });
  if (options.json) printJson(tasks);
  else if (tasks.length === 0) process.stdout.write(status === undefined ? "No tasks.\n" : `No ${status} tasks.\n`);
  else process.stdout.write(`${taskTable(tasks)}\n`);
}
