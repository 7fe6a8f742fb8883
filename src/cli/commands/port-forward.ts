/**
 * `flow port-forward <task> [port…] [--local-port N…] [--node K]`: makes a task's ports reachable
 * here (on the cloud through SSH to its node; locally they are this machine's already), prints
 * each endpoint, and holds the forwards open until Ctrl-C or the task's machine goes away.
 */
import * as z from "zod";
import { flowFor, parseFlags } from "../cli-inputs.ts";

const Port = z.coerce.number().int("must be a whole number").min(1, "must be a port (1-65535)").max(65535, "must be a port (1-65535)");

const PortForwardFlagsSchema = z.object({
  ports: z.array(Port),
  localPort: z.array(Port).optional(),
  node: z.coerce.number().int("must be a whole number").min(0, "must be 0 or more"),
});

export async function portForwardCommand(idOrName: string, ports: string[], options: { provider?: string; localPort?: string[]; node: string }): Promise<void> {
  const flags = parseFlags(PortForwardFlagsSchema, { ports, localPort: options.localPort, node: options.node });
  const task = await flowFor(options.provider).getTask(idOrName);
  const forwards = await task.forwardPorts({
    ...(flags.ports.length === 0 ? {} : { ports: flags.ports }),
    ...(flags.localPort === undefined ? {} : { localPorts: flags.localPort }),
    node: flags.node,
  });
  for (const [port, url] of Object.entries(forwards.endpoints)) process.stdout.write(`${port} -> ${url}\n`);
  process.stderr.write(`Forwarding ${task.taskId}'s port${Object.keys(forwards.endpoints).length > 1 ? "s" : ""}; Ctrl-C stops.\n`);
  const stopped = new Promise<"interrupted">((resolve) => {
    process.once("SIGINT", () => resolve("interrupted"));
    process.once("SIGTERM", () => resolve("interrupted"));
  });
  const how = await Promise.race([stopped, forwards.closed.then(() => "lost" as const)]);
  await forwards.close();
  if (how === "lost") {
    process.stderr.write(`The connection to ${task.taskId}'s machine closed: the task may have ended (flow status ${task.taskId}).\n`);
    process.exitCode = 1;
  }
}
