/**
 * The `flow` command. Each command lives in commands/<name>.ts; this file only declares them.
 * Exit codes: 0 on success, 1 for any error (printed with its suggestions), the task's own exit
 * code for `flow run --wait`, 130 when interrupted.
 */
import { Command, Option } from "commander";
import { ValidationError } from "../errors.ts";
import { providerOfTaskId } from "../providers/provider-name.ts";
import { TASK_STATUSES } from "../task/task-status.ts";
import { cancelCommand } from "./commands/cancel.ts";
import { catalogCommand } from "./commands/catalog.ts";
import { formatError } from "./error-output.ts";
import { initCommand } from "./commands/init.ts";
import { listCommand } from "./commands/list.ts";
import { logsCommand } from "./commands/logs.ts";
import { portForwardCommand } from "./commands/port-forward.ts";
import { runTaskCommand, TASK_FLAGS, type RunTaskOptions } from "./commands/run-task.ts";
import { sshCommand } from "./commands/ssh.ts";
import { statusCommand } from "./commands/status.ts";

const program = new Command()
  .name("flow")
  .description("Run TypeScript functions and commands on GPUs.")
  .showHelpAfterError();

// No commander default: unset, the provider comes from FLOW_PROVIDER or `provider:` in a config file.
const providerOption = () =>
  new Option("--provider <name>", 'where it runs: "local" (this machine) or "fcp" (the Mithril GPU cloud); default: FLOW_PROVIDER, else `provider:` in .flow/config.yaml, else local');
const TASK_HELP = "task id (or name: the newest task with it)";

const runCommandSpec = program
  .command("run")
  .summary("Run a command task, a YAML task file, or TypeScript functions")
  .description(
    [
      "Run a command task, a YAML task file, or TypeScript functions:",
      '  flow run "python train.py" --instance-type a100 [--wait]',
      "  flow run job.yaml",
      "  flow run -- python train.py --epochs 3       (an argv, no shell)",
      "  flow run file.ts [args…]                     (the file's app.localEntrypoint, given args…)",
      "  flow run file.ts::name [args…]               (one function, JSON arguments)",
      "",
      "Everything after file.ts goes to its entrypoint; flow's own options go before the file.",
    ].join("\n"),
  )
  .argument("<target>", "a command line, a .yaml/.yml task file, or file.ts[::name]")
  .argument("[args...]", "with file.ts::name: one JSON value per parameter; with file.ts: the entrypoint's argv; otherwise the rest of the command's argv")
  .addOption(providerOption())
  .option("--json", "print the result (or the task) as JSON")
  .option("-w, --wait", "wait for the task, streaming its output; exit with its exit code")
  .option("-i, --instance-type <type>", 'instance type, e.g. "a100", "8xh100", "a100-80gb.sxm.1x"')
  .option("--min-gpu-memory-gb <gb>", "pick the cheapest type with this much memory per GPU instead")
  .option("-n, --name <name>", "task name (a unique suffix is added)")
  .option("-e, --env <KEY=VALUE...>", "environment variables for the task (repeatable)")
  .option("--max-price-per-hour <usd>", "refuse instance types that cost more")
  .option("--max-run-time-hours <hours>", "stop the task after this long (it fails)")
  .option("--region <region>", "run in this region (default: the cheapest with capacity)")
  .option("--code-root <dir>", "the directory to upload (default: the current one)")
  .option("--no-upload-code", "upload no code; the command brings its own")
  .action(async (target: string, args: string[], options: RunTaskOptions) => {
    if (!isFunctionTarget(target)) return runTaskCommand(target, args, options);
    const taskFlags = TASK_FLAGS.filter((flag) => options[flag] !== undefined);
    if (taskFlags.length > 0 || options.uploadCode === false) {
      throw new ValidationError(`${target} runs TypeScript functions; task options (${taskFlags.join(", ") || "uploadCode"}) do not apply to it.`, {
        suggestions: ["Set the GPU and the rest in app.function({ gpu: \"a100\", … })."],
      });
    }
    // Loaded only for function targets: bundling and agents pull in esbuild, tsx and ws, which
    // would slow every other command's start.
    const { runCommand } = await import("./commands/run.ts");
    await runCommand(target, isEntrypointTarget(target) ? entrypointArgs : args, { ...(options.provider === undefined ? {} : { provider: options.provider }), ...(options.json === undefined ? {} : { json: options.json }) });
  });

program
  .command("status")
  .description("Show one task in detail, or the most recent tasks")
  .argument("[task]", TASK_HELP)
  .addOption(providerOption())
  .option("--json", "print as JSON")
  .action(statusCommand);

program
  .command("logs")
  .description("Print a task's output (stdout, or --stderr); -f follows it until the task ends")
  .argument("<task>", TASK_HELP)
  .option("-f, --follow", "keep printing new lines until the task ends")
  .option("--tail <lines>", "how many of the last lines to print first", "100")
  .option("--stderr", "the task's stderr instead of its stdout")
  .option("--startup", "how its machine was prepared (the boot log: why a task never started) instead")
  .option("--node <n>", "which instance of a multi-node task (0-based)")
  .addOption(providerOption())
  .action(logsCommand);

program
  .command("cancel")
  .description("Stop a task and everything it started")
  .argument("<task>", TASK_HELP)
  .addOption(providerOption())
  .option("--json", "print the task as JSON")
  .action(cancelCommand);

program
  .command("list")
  .description("List tasks, newest first")
  .addOption(new Option("--status <status>", "only tasks in this state").choices(TASK_STATUSES))
  .option("--limit <n>", "at most this many", "20")
  .addOption(providerOption())
  .option("--json", "print as JSON")
  .action(listCommand);

program
  .command("catalog")
  .description("List the instance types on offer, with regions, prices and capacity")
  .option("--gpu <model>", 'only this GPU model, e.g. "a100"')
  .option("--min-gpu-memory-gb <gb>", "at least this much memory per GPU")
  .option("--max-price-per-hour <usd>", "at most this price")
  .option("--region <region>", "only this region")
  .addOption(providerOption())
  .option("--json", "print as JSON")
  .action(catalogCommand);

program
  .command("ssh")
  .description("Open a shell on a task's instance, or run a command there")
  .argument("<task>", TASK_HELP)
  .argument("[command...]", "run this instead of an interactive shell")
  .option("--node <n>", "which instance of a multi-node task (0-based)", "0")
  .addOption(providerOption())
  .action(sshCommand);

program
  .command("port-forward")
  .description("Reach a task's ports from this machine (its `ports`; on the cloud through SSH), until Ctrl-C")
  .argument("<task>", TASK_HELP)
  .argument("[ports...]", "which of the task's ports (default: all of them)")
  .option("--local-port <port...>", "the local port for each port, in order (default: free ones)")
  .option("--node <n>", "which instance of a multi-node task (0-based)", "0")
  .addOption(providerOption())
  .action(portForwardCommand);

// A task id says where its task lives, so `flow logs bid_…` needs no --provider fcp; an explicit
// --provider or FLOW_PROVIDER still decides.
program.hook("preAction", (_program, command) => {
  if (!["status", "logs", "cancel", "ssh", "port-forward"].includes(command.name())) return;
  const taskId = command.args[0];
  const inferred = taskId === undefined ? undefined : providerOfTaskId(taskId);
  if (inferred !== undefined && command.getOptionValueSource("provider") === undefined && !process.env["FLOW_PROVIDER"]) {
    command.setOptionValue("provider", inferred);
  }
});

program
  .command("init")
  .description("Write ~/.flow/config.yaml (mode 0600): asks on a terminal, or takes the flags")
  .option("--api-key <key>", "your API key (prefer the prompt: flags end up in shell history)")
  .option("--project <project>", "your project")
  .option("--region <region>", 'bid only in this region (default: the cheapest with capacity; "any" removes a stored one)')
  .option("--api-url <url>", "API endpoint")
  .option("--json", "print what was written (key redacted) as JSON")
  .action(initCommand);

const [flowArgv, entrypointArgs] = splitEntrypointArgs(process.argv, runCommandSpec);
try {
  await program.parseAsync(flowArgv);
  process.exit(typeof process.exitCode === "number" ? process.exitCode : 0);
} catch (error) {
  process.stderr.write(`${formatError(error, import.meta.url)}\n`);
  process.exit(1);
}

/** file.ts, file.cts, file.mjs, file.ts::name: TypeScript/JavaScript functions rather than a command. */
function isFunctionTarget(target: string): boolean {
  return /^\S+\.(ts|mts|cts|js|mjs|cjs)(::\S*)?$/.test(target);
}

/** A file whose local entrypoint runs (rather than one function by name). */
function isEntrypointTarget(target: string): boolean {
  return isFunctionTarget(target) && !target.includes("::");
}

/**
 * `flow run file.ts args…`: everything after the file is its entrypoint's argv, flags included
 * (`--epochs 3`, even `--name x` or `--json`), as `node file.js args…` has it; flow's own options
 * go before the file. Commander reads known options anywhere, so the entrypoint's part is taken
 * off the command line before it parses. `run`'s own options tell which flags take a value.
 */
function splitEntrypointArgs(argv: string[], run: Command): [string[], string[]] {
  if (argv[2] !== "run") return [argv, []];
  for (let i = 3; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") break;
    if (arg.startsWith("-")) {
      const option = run.options.find((o) => o.long === arg || o.short === arg);
      if (option?.required) i++; // its value (`--provider fcp`); `--provider=fcp` is one argument
      continue;
    }
    return isEntrypointTarget(arg) ? [argv.slice(0, i + 1), argv.slice(i + 1)] : [argv, []];
  }
  return [argv, []];
}
