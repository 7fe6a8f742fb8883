/**
 * `flow pause <task>`, `flow resume <task>`, `flow reprice <task> <price>`: a cloud task's instances
 * stopped with their disks kept (no billing meanwhile) and booted again, or its bid's limit price
 * changed — raised when it is outbid (`flow status` says so, with the market price).
 */
import * as z from "zod";
import { flowFor, parseFlags, PositiveNumber } from "../cli-inputs.ts";
import { paintStatus, printJson } from "../output.ts";
import { bidLimit } from "../task-view.ts";

interface Common {
  provider?: string;
  json?: boolean;
}

export async function pauseCommand(idOrName: string, options: Common): Promise<void> {
  const task = await flowFor(options.provider).getTask(idOrName);
  await task.pause();
  if (options.json) return printJson(task);
  process.stdout.write(`${task.taskId} ${paintStatus(task.status)}: its instances are stopped and no longer billed; their disks are kept. Boot them again with: flow resume ${task.taskId}\n`);
}

export async function resumeCommand(idOrName: string, options: Common): Promise<void> {
  const task = await flowFor(options.provider).getTask(idOrName);
  await task.resume();
  if (options.json) return printJson(task);
  process.stdout.write(`${task.taskId} ${paintStatus(task.status)}: it boots again once its bid is allocated, and its command starts over (files on its disk are kept).\n`);
}

export async function repriceCommand(idOrName: string, price: string, options: Common): Promise<void> {
  const { price: dollars } = parseFlags(z.object({ price: PositiveNumber }), { price: price.replace(/^\$/, "") });
  const task = await flowFor(options.provider).getTask(idOrName);
  await task.setMaxPrice(dollars);
  if (options.json) return printJson(task);
  process.stdout.write(`${task.taskId} now bids up to ${bidLimit(task) ?? task.costPerHour}/h (${paintStatus(task.status)}${task.message === undefined ? "" : `: ${task.message}`}).\n`);
}
