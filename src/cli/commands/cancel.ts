/** `flow cancel <task>`: stop a task (its whole process tree); a task that already ended is left alone. */
import { flowFor } from "../cli-inputs.ts";
import { paintStatus, printJson } from "../output.ts";

export async function cancelCommand(idOrName: string, options: { provider: string; json?: boolean }): Promise<void> {
  const task = await flowFor(options.provider).getTask(idOrName);
  const wasTerminal = task.isTerminal;
  if (!wasTerminal) await task.cancel();
  if (options.json) printJson(task);
  else if (wasTerminal) process.stdout.write(`${task.taskId} had already ended (${paintStatus(task.status)}); nothing to cancel.\n`);
  else process.stdout.write(`${task.taskId} ${paintStatus(task.status)}\n`);
}
