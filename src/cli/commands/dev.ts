/**
 * `flow dev [-- command…]`: a persistent cloud instance for interactive work. It starts one (or
 * reuses yours), syncs the code directory to it, and opens a shell there — or runs the command
 * and exits with its exit code; the second time it takes seconds, not a new bid. `flow dev --stop`
 * stops it. It also stops by itself after --idle-minutes without a session (60 by default),
 * enforced on the instance, so a forgotten one does not bill all night.
 */
import * as z from "zod";
import { DEFAULT_DEV_IDLE_MINUTES, type DevMachine } from "../../providers/cloud-account.ts";
import { flowFor, parseFlags, PositiveNumber } from "../cli-inputs.ts";
import { formatTime, printJson } from "../output.ts";

export interface DevCommandOptions {
  provider?: string;
  json?: boolean;
  instanceType?: string;
  idleMinutes?: string;
  region?: string;
  maxPricePerHour?: string;
  codeRoot?: string;
  sync?: boolean;
  stop?: boolean;
}

export async function devCommand(command: string[], options: DevCommandOptions): Promise<void> {
  const flags = parseFlags(z.object({ idleMinutes: PositiveNumber.optional(), maxPricePerHour: PositiveNumber.optional() }), options);
  const flow = flowFor(options.provider);
  if (options.stop) {
    const task = await flow.dev.stop();
    if (options.json) return printJson(task ?? null);
    process.stdout.write(task === undefined ? "No dev machine is running.\n" : `Stopped dev machine ${task.taskId}.\n`);
    return;
  }
  const session = await flow.dev.start({
    ...(options.instanceType === undefined ? {} : { instanceType: options.instanceType }),
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(flags.maxPricePerHour === undefined ? {} : { maxPricePerHour: flags.maxPricePerHour }),
    ...(flags.idleMinutes === undefined ? {} : { idleMinutes: flags.idleMinutes }),
  });
  process.stderr.write(`flow: ${session.started ? "started" : "using"} dev machine ${describeDevMachine(session.machine)}\n`);
  process.exitCode = await session.attach({
    ...(command.length === 0 ? {} : { command: command.join(" ") }),
    ...(options.codeRoot === undefined ? {} : { codeRoot: options.codeRoot }),
    ...(options.sync === false ? { uploadCode: false } : {}),
  });
}

/** `bid_… (a100-80gb.sxm.1x in us-central1-b); stops at 2030-…Z after 60 minutes without a session`. */
export function describeDevMachine(machine: DevMachine): string {
  const { task } = machine;
  const idle = machine.idleMinutes ?? DEFAULT_DEV_IDLE_MINUTES;
  const stops = machine.stopsAt === undefined ? "" : `; stops at ${formatTime(machine.stopsAt)} unless used (after ${Math.round(idle * 100) / 100} minutes without a session)`;
  return `${task.taskId} (${task.instanceType} in ${task.region})${stops}`;
}
