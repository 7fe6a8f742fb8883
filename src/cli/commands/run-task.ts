/**
 * `flow run "<command>" --instance-type a100 [--wait]` and `flow run job.yaml`: submit a command
 * task to the provider. Without --wait it prints the task id and returns at once (the task runs
 * on without this process); with --wait it streams the task's output under a live status line
 * and exits with the task's exit code. Ctrl-C stops waiting, not the task.
 */
import { ValidationError } from "../../errors.ts";
import { sleep } from "../../sleep.ts";
import type { Task } from "../../client/task.ts";
import { isYamlPath, type TaskSource } from "../../task/task-source.ts";
import { flowFor, parseFlags, TaskFlagsSchema, taskOverridesFrom } from "../cli-inputs.ts";
import { printJson } from "../output.ts";
import { StatusLine } from "../status-line.ts";
import { exitCodeOf, outcomeLine, submittedLine, waitingFor } from "../task-view.ts";

export interface RunTaskOptions {
  provider?: string;
  json?: boolean;
  wait?: boolean;
  instanceType?: string;
  minGpuMemoryGb?: string;
  name?: string;
  env?: string[];
  envFile?: string;
  maxPricePerHour?: string;
  maxRunTimeHours?: string;
  region?: string;
  codeRoot?: string;
  uploadCode?: boolean;
  numInstances?: string;
  image?: string;
  priority?: string;
  volume?: string[];
  data?: string[];
  port?: string[];
  sshKey?: string[];
  reservation?: string;
  allocationMode?: string;
  startTime?: string;
  reservedHours?: string;
  workingDir?: string;
  terminateOnExit?: boolean;
}

/** The flags that describe a task, for refusing them on function targets. */
export const TASK_FLAGS = [
  "wait",
  "instanceType",
  "minGpuMemoryGb",
  "name",
  "env",
  "envFile",
  "maxPricePerHour",
  "maxRunTimeHours",
  "region",
  "codeRoot",
  "numInstances",
  "image",
  "priority",
  "volume",
  "data",
  "port",
  "sshKey",
  "reservation",
  "allocationMode",
  "startTime",
  "reservedHours",
  "workingDir",
  "terminateOnExit",
] as const;

/** How often the live status line is redrawn; the task is asked only as often as its provider wants. */
const REDRAW_MS = 250;

/** `target` alone is a command line or a task file; with `args`, target and args are an argv. */
export async function runTaskCommand(target: string, args: string[], options: RunTaskOptions): Promise<void> {
  const flags = parseFlags(TaskFlagsSchema, {
    ...options,
    // Commander's --no-upload-code defaults uploadCode to true; only an explicit "no" overrides.
    uploadCode: options.uploadCode === false ? false : undefined,
  });
  const overrides = taskOverridesFrom(flags);
  // A task on a reservation runs on the reservation's type.
  if (!isYamlPath(target) && overrides.instanceType === undefined && overrides.minGpuMemoryGb === undefined && overrides.reservationId === undefined) {
    throw new ValidationError("flow run needs an instance type for a command.", {
      suggestions: [`flow run ${JSON.stringify(target)} --instance-type a100   (\`flow catalog\` lists the types)`],
      errorCode: "instance_type_missing",
    });
  }
  const source: TaskSource = args.length > 0 ? { command: [target, ...args] } : target;

  const flow = flowFor(options.provider);
  const task = await flow.run(source, overrides);
  if (!options.wait) {
    if (options.json) printJson(task);
    else printSubmitted(task);
    return;
  }
  if (options.json) {
    await task.wait();
    printJson(task);
  } else {
    await watch(task, flow.provider.statusPollIntervalMs);
  }
  process.exitCode = exitCodeOf(task);
}

function printSubmitted(task: Task): void {
  process.stdout.write(
    [
      submittedLine(task),
      `  flow logs ${task.taskId} -f     follow its output`,
      `  flow status ${task.taskId}      see how it is doing`,
      `  flow cancel ${task.taskId}      stop it`,
      "",
    ].join("\n"),
  );
}

/**
 * Streams stdout and stderr (once the task starts: a cloud bid may wait a long time for an
 * instance) and keeps the status line current until the task ends.
 */
async function watch(task: Task, statusPollIntervalMs: number): Promise<void> {
  const line = new StatusLine(task.taskId);
  process.stdout.write(`${submittedLine(task)}\n`);
  process.once("SIGINT", () => {
    line.done();
    process.stdout.write(`Stopped waiting; ${task.taskId} carries on without this terminal (follow it: flow logs ${task.taskId} -f; stop it: flow cancel ${task.taskId})\n`);
    process.exit(130);
  });
  line.update(task.status, waitingFor(task));
  const follow = async (stderr: boolean) => {
    for await (const text of task.logs({ follow: true, stderr, tail: Number.MAX_SAFE_INTEGER })) {
      line.print(text, stderr ? process.stderr : process.stdout);
    }
  };
  const poll = async () => {
    let askedAt = Date.now();
    while (!task.isTerminal) {
      await sleep(REDRAW_MS);
      if (Date.now() - askedAt >= statusPollIntervalMs) {
        askedAt = Date.now();
        await task.refresh();
      }
      line.update(task.status, waitingFor(task));
    }
  };
  await Promise.all([follow(false), follow(true), poll()]);
  line.done();
  process.stdout.write(`${outcomeLine(task)}\n`);
}
