/** `flow logs <task> [-f] [--tail N] [--stderr]`: a task's output, or follow it until it ends. */
import { DEFAULT_LOG_TAIL_LINES } from "../../task/task.ts";
import { flowFor, parseFlags, TailSchema } from "../cli-inputs.ts";
import { z } from "zod";

export interface LogsCommandOptions {
  provider?: string;
  follow?: boolean;
  tail?: string;
  stderr?: boolean;
}

export async function logsCommand(idOrName: string, options: LogsCommandOptions): Promise<void> {
  const { tail } = parseFlags(z.object({ tail: TailSchema.optional() }), { tail: options.tail });
  const task = await flowFor(options.provider).getTask(idOrName);
  const common = { tail: tail ?? DEFAULT_LOG_TAIL_LINES, stderr: options.stderr === true };
  if (!options.follow) {
    process.stdout.write(await task.logs(common));
    return;
  }
  for await (const line of task.logs({ ...common, follow: true })) process.stdout.write(`${line}\n`);
}
