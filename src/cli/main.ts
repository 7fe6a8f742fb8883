/**
 * The `flow` command.
 */
import { Command } from "commander";
import { FlowError } from "../errors.ts";
import { runCommand } from "./commands/run.ts";

const program = new Command()
  .name("flow")
  .description("Run TypeScript functions on GPUs as if they were local.")
  .showHelpAfterError();

program
  .command("run")
  .description("Run a file's local entrypoint, or one function: flow run <file.ts>[::<name> [args…]]")
  .argument("<target>", "file.ts, or file.ts::functionName")
  .argument("[args...]", "arguments for ::functionName, one JSON value per parameter")
  .option("--provider <name>", "where functions run", "local")
  .option("--json", "print the result as JSON")
  .action(async (target: string, args: string[], options: { provider: string; json?: boolean }) => {
    await runCommand(target, args, options);
  });

try {
  await program.parseAsync();
  process.exit(0);
} catch (error) {
  process.stderr.write(`${formatError(error)}\n`);
  process.exit(1);
}

function formatError(error: unknown): string {
  if (error instanceof FlowError) return `Error: ${error.describe()}`;
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return `Error: ${String(error)}`;
}
