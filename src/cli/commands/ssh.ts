/** `flow ssh <task> [command…]`: a shell on the task's instance (the local provider has none). */
import * as z from "zod";
import { flowFor, parseFlags } from "../cli-inputs.ts";

const SshFlagsSchema = z.object({
  node: z.coerce.number().int("must be a whole number").min(0, "must be 0 or more"),
});

export async function sshCommand(idOrName: string, command: string[], options: { provider?: string; node: string }): Promise<void> {
  const { node } = parseFlags(SshFlagsSchema, { node: options.node });
  const flow = flowFor(options.provider);
  const task = await flow.getTask(idOrName);
  await flow.provider.shell(task.taskId, { node, ...(command.length === 0 ? {} : { command: command.join(" ") }) });
}
