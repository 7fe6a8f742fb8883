/**
 * `flow status [task]`: one task in detail, or the most recent ones as a table. On the cloud it
 * also says when the dev machine stops by itself.
 */
import type { Flow } from "../../client/flow.ts";
import type { DevMachine } from "../../providers/cloud-account.ts";
import { flowFor } from "../cli-inputs.ts";
import { formatTime, printJson } from "../output.ts";
import { describeTask, isOutbid, taskTable } from "../task-view.ts";
import { describeDevMachine } from "./dev.ts";

const RECENT_TASKS = 10;

export async function statusCommand(idOrName: string | undefined, options: { provider?: string; json?: boolean }): Promise<void> {
  const flow = flowFor(options.provider);
  if (idOrName === undefined) {
    const [tasks, dev] = await Promise.all([flow.listTasks({ limit: RECENT_TASKS }), devMachine(flow)]);
    if (options.json) return printJson(tasks);
    process.stdout.write(tasks.length === 0 ? 'No tasks yet. Start one with: flow run "<command>" --instance-type a100\n' : `${taskTable(tasks)}\n`);
    for (const task of tasks.filter(isOutbid)) process.stdout.write(`${task.taskId} is ${task.message}\n`);
    if (dev !== undefined) process.stdout.write(`Dev machine ${describeDevMachine(dev)}\n`);
    return;
  }
  const task = await flow.getTask(idOrName);
  if (options.json) return printJson(task);
  const dev = task.config?.devVm === true ? await devMachine(flow) : undefined;
  const autostop = dev?.task.taskId === task.taskId && dev.stopsAt !== undefined ? [["autostop", `stops at ${formatTime(dev.stopsAt)} unless used (after ${dev.idleMinutes} minutes without a session)`] as const] : [];
  process.stdout.write(`${describeTask(task, autostop)}\n`);
}

/** The cloud's live dev machine, if the provider has dev machines. */
function devMachine(flow: Flow): Promise<DevMachine | undefined> {
  return flow.provider.devMachines === undefined ? Promise.resolve(undefined) : flow.dev.status();
}
