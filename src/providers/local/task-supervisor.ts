/**
 * The supervisor of one local task: `node dist/task-supervisor.js <taskDir>`, started detached
 * (its own session) by the submitter, so it outlives the CLI that submitted the task. It
 * - reads the task's environment from stdin (secret values never touch the disk),
 * - unpacks the code into the workspace,
 * - runs the command as the leader of its own process group, output into the log files,
 * - stops it on cancel (SIGTERM to this process) or when maxRunTimeHours runs out,
 * - and records every transition, and finally the exit status, in state.json.
 *
 * It is the only writer of state.json while it lives. If it dies anyway, readers notice (its pid
 * is in the record) and record the loss instead of leaving the task "running" forever.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, open } from "node:fs/promises";
import { constants } from "node:os";
import { text } from "node:stream/consumers";
import { z } from "zod";
import { extractArchive } from "../../bundler/unpack.ts";
import { taskPathsIn } from "../flow-home.ts";
import { killGroup } from "../processes.ts";
import { readTaskState, writeTaskState, type LocalTaskState } from "./task-state.ts";

/** How long a stopped command gets between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 3_000;

const HandoverSchema = z.strictObject({ env: z.record(z.string(), z.string()) });

type StopReason = "cancelled" | "timeout";

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write("usage: task-supervisor <taskDir>\n");
  process.exit(2);
}
const files = taskPathsIn(dir);

let child: ChildProcess | undefined;
let stopReason: StopReason | undefined;
let killTimer: NodeJS.Timeout | undefined;

function stop(reason: StopReason): void {
  stopReason ??= reason;
  if (child?.pid === undefined || killTimer !== undefined) return;
  killGroup(child.pid, "SIGTERM");
  killTimer = setTimeout(() => child?.pid !== undefined && killGroup(child.pid, "SIGKILL"), STOP_GRACE_MS);
}

// Installed before the pid is recorded: whoever reads the pid may signal it at once.
process.on("SIGTERM", () => stop("cancelled"));
process.on("SIGHUP", () => {});
process.on("SIGINT", () => {});

let state = await readTaskState(files.state, "(supervised)");
let writes = Promise.resolve();
/** Transitions are written in the order they happen, even when not awaited. */
function update(change: Partial<LocalTaskState>): Promise<void> {
  state = { ...state, ...change };
  const snapshot = state;
  writes = writes.then(() => writeTaskState(files.state, snapshot));
  return writes;
}

try {
  const handover = HandoverSchema.safeParse(JSON.parse((await text(process.stdin)) || "null"));
  await update({ supervisorPid: process.pid });
  if (!handover.success) throw new Error("the submitting process exited before handing the task over");
  if (existsSync(files.cancelRequested)) stopReason = "cancelled";

  if (stopReason === undefined) {
    if (state.config.uploadCode && existsSync(files.code)) await extractArchive(files.code, files.workspace);
    else await mkdir(files.workspace, { recursive: true });
    if (existsSync(files.cancelRequested)) stopReason = "cancelled";
  }

  const outcome = stopReason === undefined ? await run(handover.data.env) : { code: null, signal: null, startError: undefined };
  await update(finalState(outcome));
} catch (error) {
  await update({
    status: "failed",
    completedAt: new Date().toISOString(),
    message: `the local runner failed: ${error instanceof Error ? error.message : String(error)}`,
  });
}
process.exit(0);

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  startError: Error | undefined;
}

async function run(env: Record<string, string>): Promise<Outcome> {
  const stdout = await open(files.stdout, "a");
  const stderr = await open(files.stderr, "a");
  const [file = "", ...args] = state.argv;
  const started = spawn(file, args, { cwd: files.workspace, env, detached: true, stdio: ["ignore", stdout.fd, stderr.fd] });
  child = started;
  const outcome = await new Promise<Outcome>((resolve) => {
    started.once("error", (error) => resolve({ code: null, signal: null, startError: error }));
    started.once("exit", (code, signal) => resolve({ code, signal, startError: undefined }));
    started.once("spawn", () => {
      void update({ status: "running", pid: started.pid, startedAt: new Date().toISOString() });
      // A cancel that raced the start (marker written, pid not yet recorded) is honored now.
      if (existsSync(files.cancelRequested)) stop("cancelled");
      else if (stopReason !== undefined) stop(stopReason);
      if (state.maxRunTimeMs !== undefined) setTimeout(() => stop("timeout"), state.maxRunTimeMs).unref();
    });
  });
  clearTimeout(killTimer);
  // The task is over when its command is: whatever it left running in its group goes too.
  if (started.pid !== undefined) killGroup(started.pid, "SIGKILL");
  if (outcome.startError !== undefined) await stderr.write(`flow: could not start ${JSON.stringify(file)}: ${outcome.startError.message}\n`);
  await stdout.close();
  await stderr.close();
  return outcome;
}

function finalState(outcome: Outcome): Partial<LocalTaskState> {
  const completedAt = new Date().toISOString();
  const exitCode =
    outcome.code ?? (outcome.signal === null ? undefined : 128 + (constants.signals[outcome.signal] ?? 0));
  const exited = outcome.signal !== null ? `was killed by ${outcome.signal}` : `exited with code ${outcome.code}`;
  const withCode = exitCode === undefined ? {} : { exitCode };
  if (stopReason === "cancelled") return { status: "cancelled", completedAt, message: "cancelled", ...withCode };
  if (stopReason === "timeout") {
    const hours = state.config.maxRunTimeHours;
    return { status: "failed", completedAt, message: `stopped after running longer than maxRunTimeHours (${hours} h)`, ...withCode };
  }
  if (outcome.startError !== undefined) {
    const notFound = (outcome.startError as NodeJS.ErrnoException).code === "ENOENT";
    return { status: "failed", completedAt, exitCode: notFound ? 127 : 126, message: `could not start the command: ${outcome.startError.message}` };
  }
  return { status: outcome.code === 0 ? "completed" : "failed", completedAt, message: exited, ...withCode };
}
