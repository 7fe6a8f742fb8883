/**
 * `flow cancel <task>`: stop a task (its whole process tree, or its cloud bid). A task that already
 * ended keeps its outcome; on the cloud its instance may still be up for `flow ssh`, and is
 * released — and the output says which it was.
 */
import { flowFor } from "../cli-inputs.ts";
import { paintStatus, printJson } from "../output.ts";

export async function cancelCommand(idOrName: string, options: { provider?: string; json?: boolean }): Promise<void> {
  const task = await flowFor(options.provider).getTask(idOrName);
  const wasTerminal = task.isTerminal;
  // A finished cloud task's instance lingers (billing) until it powers off; note which were up.
  const lingering = wasTerminal ? (await task.getInstances()).filter((i) => i.status !== "terminated").map((i) => i.instanceId) : [];
  await task.cancel();
  if (options.json) printJson(task);
  else if (!wasTerminal) process.stdout.write(`${task.taskId} ${paintStatus(task.status)}\n`);
  else if (lingering.length === 0) process.stdout.write(`${task.taskId} had already ended (${paintStatus(task.status)}); nothing is left running.\n`);
  else {
    const released = `${lingering.length === 1 ? "the instance" : "the instances"} ${lingering.join(", ")}`;
    process.stdout.write(`Released ${released} of ${paintStatus(task.status)} task ${task.taskId}${task.message === undefined ? "" : ` (${task.message})`}.\n`);
  }
}
