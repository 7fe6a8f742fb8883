/**
 * The `flow` command. Each command lives in commands/<name>.ts; this file only declares them.
 * Exit codes: 0 on success, 1 for any error (printed with its suggestions), the task's own exit
 * code for `flow run --wait`, 130 when interrupted.
 */
import { Command, Option } from "commander";
import { ValidationError } from "../errors.ts";
import { TASK_STATUSES } from "../task/task-status.ts";
import { DEFAULT_DEV_IDLE_MINUTES, RESERVATION_STATUSES } from "../providers/cloud-account.ts";
import type { RunTaskOptions } from "./commands/run-task.ts";
import { formatError } from "./error-output.ts";
import { timingMark } from "../debug-timing.ts";

/**
 * A command's action, its module loaded when it runs: the CLI declares every command, but `flow
 * run file.ts` or `flow --help` need not load (and compile) the cloud account's, the task view's
 * and the rest of them.
 */
function lazy<M, K extends keyof M>(load: () => Promise<M>, name: K) {
  return async (...args: M[K] extends (...args: infer A) => unknown ? A : never): Promise<void> => {
    const command = (await load())[name] as (...args: unknown[]) => unknown;
    await command(...args);
  };
}
const cancelModule = () => import("./commands/cancel.ts");
const catalogModule = () => import("./commands/catalog.ts");
const detachedCallsModule = () => import("./commands/detached-calls.ts");
const devModule = () => import("./commands/dev.ts");
const initModule = () => import("./commands/init.ts");
const listModule = () => import("./commands/list.ts");
const logsModule = () => import("./commands/logs.ts");
const portForwardModule = () => import("./commands/port-forward.ts");
const pricingModule = () => import("./commands/pricing.ts");
const quotasModule = () => import("./commands/quotas.ts");
const reserveModule = () => import("./commands/reserve.ts");
const runTaskModule = () => import("./commands/run-task.ts");
const sshModule = () => import("./commands/ssh.ts");
const sshKeysModule = () => import("./commands/ssh-keys.ts");
const statusModule = () => import("./commands/status.ts");
const taskActionsModule = () => import("./commands/task-actions.ts");
const volumesModule = () => import("./commands/volumes.ts");

/** commander's collector for a repeatable option: `--port 8080 --port 8081`. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

const program = new Command()
  .name("flow")
  .description("Run TypeScript functions and commands on GPUs.")
  .showHelpAfterError();

// No commander default: unset, the provider comes from FLOW_PROVIDER or `provider:` in a config file.
const providerOption = () =>
  new Option("--provider <name>", 'where it runs: "local" (this machine) or "fcp" (the Mithril GPU cloud); default: FLOW_PROVIDER, else `provider:` in .flow/config.yaml, else local');
/** For commands only the cloud answers (reservations, prices, keys, dev machines): they default to it. */
const cloudProviderOption = () => new Option("--provider <name>", 'the cloud to ask: "fcp" (the default: only the cloud has these)');
/** Commands (and command groups) only the cloud answers; see the hook below. */
const CLOUD_COMMANDS = ["reserve", "pricing", "quotas", "ssh-keys", "dev"];
const TASK_HELP = "task id (or name: the newest task with it)";
/** Commands that take a task id first: its form says which provider it lives on (see the hook below). */
const TASK_COMMANDS = ["status", "logs", "cancel", "ssh", "port-forward", "pause", "resume", "reprice"];

program.commandsGroup("Run:");

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
  .addHelpText(
    "after",
    [
      "",
      "Examples:",
      '  flow run "python train.py" -i 8xh100 --num-instances 2 --priority high',
      '  flow run "python train.py" -i a100 --volume ckpt:/mnt/ckpt:100 --env-file .env --wait',
      '  flow run "python prep.py" -i a100 --data /data=s3://bucket/imagenet --ssh-key laptop',
      '  flow run "python serve.py" -i a100 --image pytorch/pytorch:latest --port 8080',
      '  flow run "nvidia-smi" --reservation res_abc123          (on capacity you reserved)',
      '  flow run "python train.py" -i a100 --reserved-hours 6 --start-time 2030-07-01T09:00:00Z',
      '  flow run "python train.py" -i a100 --allocation-mode auto   (a reservation if one fits)',
    ].join("\n"),
  )
  .argument("<target>", "a command line, a .yaml/.yml task file, or file.ts[::name]")
  .argument("[args...]", "with file.ts::name: one JSON value per parameter; with file.ts: the entrypoint's argv; otherwise the rest of the command's argv")
  .addOption(providerOption())
  .option("--json", "print the result (or the task) as JSON")
  .option("--detach", "with file.ts::name: start a detached call, print its id and return at once (see flow result)")
  .option("-w, --wait", "wait for the task, streaming its output; exit with its exit code")
  .option("-i, --instance-type <type>", 'instance type, e.g. "a100", "8xh100", "a100-80gb.sxm.1x"')
  .option("--min-gpu-memory-gb <gb>", "pick the cheapest type with this much memory per GPU instead")
  .option("--num-instances <n>", "nodes of a multi-node task (each gets FLOW_NODE_RANK, FLOW_MAIN_IP)")
  .option("-n, --name <name>", "task name (a unique suffix is added)")
  .option("-e, --env <KEY=VALUE...>", "environment variables for the task (repeatable)")
  .option("--env-file <file>", "environment variables from a .env file (--env wins over it)")
  .option("--image <image>", "container image the command runs in (where the instance has Docker)")
  .option("--working-dir <dir>", "where the code is mounted in the container (default /workspace)")
  .addOption(new Option("--priority <tier>", "how far over the spot price to bid: low (1×), med (1.25×), high (1.5×)").choices(["low", "med", "high"]))
  .option("--max-price-per-hour <usd>", "refuse instance types that cost more")
  .option("--max-run-time-hours <hours>", "stop the task after this long (it fails)")
  .option("--region <region>", "run in this region (default: the cheapest with capacity)")
  .option("--volume <name:/path[:size]>", "mount a volume, created (SIZE GB) if it does not exist; vol_…:/path for one by id (repeatable)", collect)
  .option("--data </path=source>", "mount data at a path: s3://bucket/prefix, volume://name (repeatable)", collect)
  .option("--port <port>", "expose a port (1024 or higher) (repeatable)", collect)
  .option("--ssh-key <name>", "also let this registered SSH key into the instances (repeatable; see flow ssh-keys)", collect)
  .option("--reservation <id>", "run on this reservation's instances (see flow reserve)")
  .addOption(new Option("--allocation-mode <mode>", "spot (default), reserved, or auto: a matching active reservation if there is one, else spot").choices(["spot", "reserved", "auto"]))
  .option("--reserved-hours <hours>", "reserve capacity for this task: how long (3-336 hours)")
  .option("--start-time <time>", "with --reserved-hours: when the reservation starts (ISO 8601, e.g. 2030-07-01T09:00:00Z)")
  .option("--terminate-on-exit", "release the instance as soon as the command exits (default: it stays 10 minutes for flow ssh and logs)")
  .option("--code-root <dir>", "the directory to upload (default: the current one)")
  .option("--no-upload-code", "upload no code; the command brings its own")
  .action(async (target: string, args: string[], options: RunTaskOptions & { detach?: boolean }) => {
    if (options.detach && !isFunctionTarget(target)) {
      throw new ValidationError("--detach is for function calls (flow run file.ts::name --detach); a command task already runs on its own: flow run without --wait returns at once.");
    }
    if (!isFunctionTarget(target)) return (await runTaskModule()).runTaskCommand(target, args, options);
    const { TASK_FLAGS } = await runTaskModule();
    const taskFlags = TASK_FLAGS.filter((flag) => options[flag] !== undefined);
    if (taskFlags.length > 0 || options.uploadCode === false) {
      throw new ValidationError(`${target} runs TypeScript functions; task options (${taskFlags.join(", ") || "uploadCode"}) do not apply to it.`, {
        suggestions: ["Set the GPU and the rest in app.function({ gpu: \"a100\", … })."],
      });
    }
    // Loaded only for function targets: bundling and agents pull in esbuild, tsx and ws, which
    // would slow every other command's start.
    const { runCommand } = await import("./commands/run.ts");
    await runCommand(target, isEntrypointTarget(target) ? entrypointArgs : args, { ...(options.provider === undefined ? {} : { provider: options.provider }), ...(options.json === undefined ? {} : { json: options.json }), ...(options.detach ? { detach: true } : {}) });
  });

program
  .command("dev")
  .summary("A persistent cloud machine for interactive work: a shell there, or a command")
  .description(
    [
      "Start (or reuse) your dev machine, sync the code directory to it, and open a shell there:",
      "  flow dev                         a shell on it",
      "  flow dev -- python train.py      run a command there (seconds the second time: no new bid)",
      "  flow dev --stop                  stop it",
      "It stops by itself after --idle-minutes without a session (enforced on the machine, so a",
      "forgotten one stops even if this laptop is closed); flow status says when.",
    ].join("\n"),
  )
  .argument("[command...]", "run this there instead of a shell")
  .option("-i, --instance-type <type>", "for a new machine (default a100)")
  .option("--idle-minutes <minutes>", `power off after this long without a session (default ${DEFAULT_DEV_IDLE_MINUTES})`)
  .option("--region <region>", "for a new machine")
  .option("--max-price-per-hour <usd>", "for a new machine")
  .option("--code-root <dir>", "the directory to sync (default: the current one)")
  .option("--no-sync", "do not sync the code directory")
  .option("--stop", "stop your dev machine")
  .addOption(cloudProviderOption())
  .option("--json", "with --stop: print the stopped task as JSON")
  .action(lazy(devModule, "devCommand"));

program.commandsGroup("Tasks:");

program
  .command("status")
  .description("Show one task in detail, or the most recent tasks (and when the dev machine stops)")
  .argument("[task]", TASK_HELP)
  .addOption(providerOption())
  .option("--json", "print as JSON")
  .action(async (task: string | undefined, options: { json?: boolean }) => {
    const detached = await detachedCallsModule();
    await (task !== undefined && detached.isDetachedCallId(task) ? detached.detachedStatusCommand(task, options) : (await statusModule()).statusCommand(task, options));
  });

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
  .action(async (task: string, options: { follow?: boolean; stderr?: boolean }) => {
    const detached = await detachedCallsModule();
    await (detached.isDetachedCallId(task) ? detached.detachedLogsCommand(task, options) : (await logsModule()).logsCommand(task, options));
  });

program
  .command("list")
  .description("List tasks, newest first")
  .addOption(new Option("--status <status>", "only tasks in this state").choices(TASK_STATUSES))
  .option("--limit <n>", "at most this many", "20")
  .addOption(providerOption())
  .option("--json", "print as JSON")
  .action(lazy(listModule, "listCommand"));

program
  .command("cancel")
  .description("Stop a task and everything it started")
  .argument("<task>", TASK_HELP)
  .addOption(providerOption())
  .option("--json", "print the task as JSON")
  .action(async (task: string, options: { json?: boolean }) => {
    const detached = await detachedCallsModule();
    await (detached.isDetachedCallId(task) ? detached.detachedCancelCommand(task) : (await cancelModule()).cancelCommand(task, options));
  });

program
  .command("result")
  .description("Wait for a detached call (flow run file.ts::fn --detach) and print its value; exit 1 with its error")
  .argument("<call>", "the call's id (call-…)")
  .option("--json", "print the value as JSON")
  .action(lazy(detachedCallsModule, "resultCommand"));

program
  .command("ssh")
  .description("Open a shell on a task's instance, or run a command there")
  .argument("<task>", TASK_HELP)
  .argument("[command...]", "run this instead of an interactive shell")
  .option("--node <n>", "which instance of a multi-node task (0-based)", "0")
  .addOption(providerOption())
  .action(lazy(sshModule, "sshCommand"));

program
  .command("pause")
  .description("Stop a running cloud task's instances, keeping their disks; billing stops")
  .argument("<task>", TASK_HELP)
  .addOption(providerOption())
  .option("--json", "print the task as JSON")
  .action(lazy(taskActionsModule, "pauseCommand"));

program
  .command("resume")
  .description("Boot a paused task's instances again (its command starts over)")
  .argument("<task>", TASK_HELP)
  .addOption(providerOption())
  .option("--json", "print the task as JSON")
  .action(lazy(taskActionsModule, "resumeCommand"));

program
  .command("reprice")
  .description("Set the most a cloud task's bid pays per instance-hour: raise it when it is outbid")
  .argument("<task>", TASK_HELP)
  .argument("<price>", "dollars per instance-hour, e.g. 4.50")
  .addOption(providerOption())
  .option("--json", "print the task as JSON")
  .action(lazy(taskActionsModule, "repriceCommand"));

program
  .command("port-forward")
  .description("Reach a task's ports from this machine (its `ports`; on the cloud through SSH), until Ctrl-C")
  .argument("<task>", TASK_HELP)
  .argument("[ports...]", "which of the task's ports (default: all of them)")
  .option("--local-port <port...>", "the local port for each port, in order (default: free ones)")
  .option("--node <n>", "which instance of a multi-node task (0-based)", "0")
  .addOption(providerOption())
  .action(lazy(portForwardModule, "portForwardCommand"));

// A task id says where its task lives, so `flow logs bid_…` needs no --provider fcp; an explicit
// --provider or FLOW_PROVIDER still decides. Commands only the cloud answers ask the cloud unless
// told otherwise: a configured `provider: local` has no reservations to show.
program.hook("preAction", async (_program, command) => {
  const group = command.parent === program ? command : command.parent;
  if (group !== null && CLOUD_COMMANDS.includes(group.name())) {
    if (command.getOptionValueSource("provider") === undefined) command.setOptionValue("provider", "fcp");
    return;
  }
  if (!TASK_COMMANDS.includes(command.name())) return;
  const taskId = command.args[0];
  const inferred = taskId === undefined ? undefined : (await import("../providers/provider-name.ts")).providerOfTaskId(taskId);
  if (inferred !== undefined && command.getOptionValueSource("provider") === undefined && !process.env["FLOW_PROVIDER"]) {
    command.setOptionValue("provider", inferred);
  }
});

program.commandsGroup("Cloud account:");

const reserve = program
  .command("reserve")
  .description("Reserved capacity: instances that are never preempted, for a window you choose")
  .addHelpText(
    "after",
    [
      "",
      "Examples:",
      "  flow reserve quote -i 8xh100 --hours 24 -n 2",
      "  flow reserve create -i a100 --hours 3                        (starts now)",
      "  flow reserve create -i 8xh100 --hours 48 --start 2030-07-01T09:00:00Z --region us-central1-b",
      '  flow run "python train.py" --reservation res_abc123         (a task on it)',
      "  flow reserve extend res_abc123 --hours 12 ; flow reserve cancel res_abc123",
    ].join("\n"),
  );
const windowOptions = (command: Command) =>
  command
    .requiredOption("-i, --instance-type <type>", 'what to reserve, e.g. "a100", "8xh100"')
    .requiredOption("--hours <hours>", "how long: 3 to 336 hours (14 days)")
    .option("--start <time>", "when it starts (ISO 8601 with a zone, e.g. 2030-07-01T09:00:00Z); default now")
    .option("--region <region>", "where (default: the cheapest region with the capacity)")
    .option("-n, --num-instances <n>", "how many instances (default 1)")
    .addOption(cloudProviderOption())
    .option("--json", "print as JSON");
windowOptions(reserve.command("quote").description("What a reservation would cost, per offer, and whether it is available")).action(lazy(reserveModule, "reserveQuoteCommand"));
windowOptions(reserve.command("create").description("Reserve capacity (it says the price before it buys)"))
  .option("--name <name>", "a name for listings")
  .option("--offer <key>", 'which offer: "standard" (default) or another from flow reserve quote')
  .option("--max-unit-price <usd>", "refuse if the price per instance-hour is above this")
  .action(lazy(reserveModule, "reserveCreateCommand"));
reserve
  .command("list")
  .description("Your reservations, newest first")
  .addOption(new Option("--status <status>", "only these").choices(RESERVATION_STATUSES))
  .addOption(cloudProviderOption())
  .option("--json", "print as JSON")
  .action(lazy(reserveModule, "reserveListCommand"));
reserve
  .command("show")
  .description("One reservation: its instances, window, price, cost so far and history")
  .argument("<reservation>", "reservation id (or name)")
  .addOption(cloudProviderOption())
  .option("--json", "print as JSON")
  .action(lazy(reserveModule, "reserveShowCommand"));
reserve
  .command("extend")
  .description("Make a reservation last longer (the added time is bought at today's price)")
  .argument("<reservation>", "reservation id (or name)")
  .option("--hours <hours>", "add this many hours")
  .option("--until <time>", "or extend to this time (ISO 8601 with a zone)")
  .addOption(cloudProviderOption())
  .option("--json", "print as JSON")
  .action(lazy(reserveModule, "reserveExtendCommand"));
reserve
  .command("pause")
  .description("Stop every instance of a reservation (flex offers credit the time)")
  .argument("<reservation>", "reservation id (or name)")
  .addOption(cloudProviderOption())
  .option("--json", "print as JSON")
  .action(async (id: string, options: { provider?: string; json?: boolean }) => (await reserveModule()).reservePauseCommand(id, options, true));
reserve
  .command("resume")
  .description("Boot a paused reservation's instances again")
  .argument("<reservation>", "reservation id (or name)")
  .addOption(cloudProviderOption())
  .option("--json", "print as JSON")
  .action(async (id: string, options: { provider?: string; json?: boolean }) => (await reserveModule()).reservePauseCommand(id, options, false));
reserve
  .command("cancel")
  .description("Give a reservation back: its instances end, credited for the time left")
  .argument("<reservation>", "reservation id (or name)")
  .addOption(cloudProviderOption())
  .option("--json", "print as JSON")
  .action(lazy(reserveModule, "reserveCancelCommand"));

program
  .command("pricing")
  .description("Spot and reserved prices now, with capacity; --history charts the spot price")
  .option("--gpu <model>", 'only this GPU model, e.g. "h100"')
  .option("-i, --instance-type <type>", 'only this instance type, e.g. "8xh100"')
  .option("--region <region>", "only this region")
  .option("--history <span>", "the spot price over the last span: 90m, 24h, 7d")
  .addOption(cloudProviderOption())
  .option("--json", "print as JSON")
  .action(lazy(pricingModule, "pricingCommand"));

program.command("quotas").description("Your project's quotas and how much of each is used").addOption(cloudProviderOption()).option("--json", "print as JSON").action(lazy(quotasModule, "quotasCommand"));

program
  .command("catalog")
  .description("The instance types on offer: each region's spot price and free capacity side by side")
  .option("--gpu <model>", 'only this GPU model, e.g. "a100"')
  .option("--min-gpu-memory-gb <gb>", "at least this much memory per GPU")
  .option("--max-price-per-hour <usd>", "at most this price")
  .option("--region <region>", "only this region")
  .addOption(providerOption())
  .option("--json", "print as JSON")
  .action(lazy(catalogModule, "catalogCommand"));

const volumes = program.command("volumes").description("Persistent volumes: sizes, regions, and the tasks that use them");
volumes.command("list").description("List volumes").addOption(providerOption()).option("--json", "print as JSON").action(lazy(volumesModule, "volumesListCommand"));
volumes
  .command("create")
  .description("Create a volume")
  .argument("<name>", "3-64 lowercase letters, digits and dashes")
  .option("--size-gb <gb>", "size (default 1)")
  .option("--region <region>", "where (tasks that mount it run there; default: the configured region)")
  .addOption(new Option("--interface <kind>", "block (a disk, default) or file (a share several instances can mount)").choices(["block", "file"]))
  .addOption(providerOption())
  .option("--json", "print as JSON")
  .action(lazy(volumesModule, "volumesCreateCommand"));
volumes
  .command("delete")
  .description("Delete a volume and its data (refused while a task uses it)")
  .argument("<volume>", "volume id or name")
  .addOption(providerOption())
  .option("--json", "print as JSON")
  .action(lazy(volumesModule, "volumesDeleteCommand"));
volumes
  .command("rename")
  .description("Rename a volume")
  .argument("<volume>", "volume id or name")
  .argument("<name>", "the new name")
  .addOption(providerOption())
  .option("--json", "print as JSON")
  .action(lazy(volumesModule, "volumesRenameCommand"));

const sshKeys = program.command("ssh-keys").description("The SSH keys registered with your project");
sshKeys.command("list").description("List the keys, with the tasks that use them").addOption(cloudProviderOption()).option("--json", "print as JSON").action(lazy(sshKeysModule, "sshKeysListCommand"));
sshKeys
  .command("add")
  .description("Register a public key")
  .argument("<name>", "a name for it")
  .argument("<key>", "a .pub file, or the public key itself")
  .addOption(cloudProviderOption())
  .option("--json", "print as JSON")
  .action(lazy(sshKeysModule, "sshKeysAddCommand"));
sshKeys
  .command("delete")
  .description("Remove a key (refused while a running task uses it)")
  .argument("<key>", "key id or name")
  .addOption(cloudProviderOption())
  .option("--json", "print as JSON")
  .action(lazy(sshKeysModule, "sshKeysDeleteCommand"));

program.commandsGroup("Setup:");

program
  .command("init")
  .description("Write ~/.flow/config.yaml (mode 0600), checking the key and project with the cloud: asks on a terminal, or takes the flags")
  .option("--api-key <key>", "your API key (prefer the prompt: flags end up in shell history)")
  .option("--project <project>", "your project (on a terminal, picked from the key's projects)")
  .option("--region <region>", 'bid only in this region (default: the cheapest with capacity; "any" removes a stored one)')
  .addOption(new Option("--provider <name>", "where flow runs things by default: local (this machine) or fcp (the cloud)").choices(["local", "fcp", "mithril"]))
  .option("--api-url <url>", "API endpoint")
  .option("--json", "print what was written (key redacted) as JSON")
  .action(lazy(initModule, "initCommand"));

const [flowArgv, entrypointArgs] = splitEntrypointArgs(process.argv, runCommandSpec);
try {
  timingMark("cli loaded");
  await program.parseAsync(flowArgv);
  await exitAfterOutput(typeof process.exitCode === "number" ? process.exitCode : 0);
} catch (error) {
  process.stderr.write(`${formatError(error, import.meta.url)}\n`);
  await exitAfterOutput(1);
}

/**
 * Exit once what was printed has left the process. Writes to a pipe are asynchronous, and
 * process.exit() drops what is still queued: `flow logs <id> | grep …` would lose most of a big log.
 * (The CLI exits explicitly because a finished command may leave connections open.)
 */
async function exitAfterOutput(code: number): Promise<never> {
  const flushed = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.write("", () => resolve()));
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
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
