/**
 * `flow cancel <task>`: stop a task (its whole process tree, or its cloud bid). A task that already
 * ended keeps its outcome; on the cloud its instance may still be up for `flow ssh`, and is released.
 */
import { flowFor } from "../cli-inputs.ts";
import { paintStatus, printJson } from "../output.ts";

export async function cancelCommand(idOrName: string, options: { provider?: string; json?: boolean }): Promise<void> {
  const task = await flowFor(options.provider).getTask(idOrName);
  const wasTerminal = task.isTerminal;
  await task.cancel();
  if (options.json) printJson(task);
  else if (wasTerminal) process.stdout.write(`${task.taskId} had already ended (${paintStatus(task.status)}); nothing is left running.\n`);
  else process.stdout.write(`${task.taskId} ${paintStatus(task.status)}\n`);
}
