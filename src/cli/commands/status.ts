/** `flow status [task]`: one task in detail, or the most recent ones as a table. */
import { flowFor } from "../cli-inputs.ts";
import { printJson } from "../output.ts";
import { describeTask, taskTable } from "../task-view.ts";

const RECENT_TASKS = 10;

export async function statusCommand(idOrName: string | undefined, options: { provider?: string; json?: boolean }): Promise<void> {
  const flow = flowFor(options.provider);
  if (idOrName === undefined) {
    const tasks = await flow.listTasks({ limit: RECENT_TASKS });
    if (options.json) printJson(tasks);
    else process.stdout.write(tasks.length === 0 ? 'No tasks yet. Start one with: flow run "<command>" --instance-type a100\n' : `${taskTable(tasks)}\n`);
    return;
  }
  const task = await flow.getTask(idOrName);
  if (options.json) printJson(task);
  else process.stdout.write(`${describeTask(task)}\n`);
}
