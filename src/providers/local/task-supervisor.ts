/**
 * The supervisor of one local task: `node dist/task-supervisor.js <taskDir>`, started detached
 * (its own session) by the submitter, so it outlives the CLI that submitted the task. It
 * - reads the task's environment from stdin (secret values never touch the disk),
 * - unpacks the code into the workspace, links its volumes and copies its S3 data there
 *   (local-mounts.ts),
 * - runs the command as the leader of its own process group, output into the log files,
 * - stops it on cancel (SIGTERM to this process), when maxRunTimeHours runs out or at its deadline,
 * - and records every transition, and finally the exit status, in state.json.
 *
 * It is the only writer of state.json while it lives. If it dies anyway, readers notice (its pid
 * is in the record) and record the loss instead of leaving the task "running" forever.
 *
 * A task may fill the disk (its workspace and logs live under FLOW_HOME): the supervisor holds a
 * reserve file from the start and gives it up for the final record, which then says the disk was
 * full (task-state.ts keepTaskState).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, open, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { text } from "node:stream/consumers";
import * as z from "zod";
import { extractArchive } from "../../bundler/unpack.ts";
import { s3HelperPath } from "../../sdk-paths.ts";
import { S3AccessSchema } from "../s3/s3-access.ts";
import { taskPathsIn } from "../flow-home.ts";
import { killGroup } from "../processes.ts";
import { diskFullError, formatBytes, freeBytes, isDiskFull } from "../record-files.ts";
import { keepTaskState, readTaskState, RECORD_RESERVE_BYTES, type LocalTaskState } from "./task-state.ts";

/** How long a stopped command gets between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 3_000;

const HandoverSchema = z.strictObject({
  env: z.record(z.string(), z.string()),
  mounts: z.strictObject({
    links: z.array(z.strictObject({ target: z.string(), path: z.string() })),
    s3: z.array(z.strictObject({ source: z.string(), target: z.string(), access: S3AccessSchema })),
  }),
});

type StopReason = "cancelled" | "timeout" | "deadline";

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write("usage: task-supervisor <taskDir>\n");
  process.exit(2);
}
const files = taskPathsIn(dir);
/** `<home>/tasks/<taskId>`: the flow home is two levels up. */
const flowHome = dirname(dirname(dir));

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
// Set aside before the task can fill the disk. If even this fails, the disk is full already, and
// whatever part of it was written is still room to give back later.
await writeFile(files.reserve, Buffer.alloc(RECORD_RESERVE_BYTES), { mode: 0o600 }).catch(() => {});
let diskFull = false;
let writes = Promise.resolve();
/**
 * Transitions are written in the order they happen, even when not awaited; one that fails does
 * not stop the later ones (the last is the one that counts).
 */
function update(change: Partial<LocalTaskState>): Promise<void> {
  state = { ...state, ...change };
  const snapshot = state;
  const write = writes.then(async () => {
    if ((await keepTaskState(files.state, snapshot, flowHome, files.reserve)).diskFull) diskFull = true;
  });
  writes = write.catch(() => {});
  return write;
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
  if (state.deadline !== undefined && Date.now() >= Date.parse(state.deadline)) {
    await update({ status: "failed", completedAt: new Date().toISOString(), message: `the deadline (deadlineHours, ${state.deadline}) passed before the task could start` });
  } else {
    const mountFailure = stopReason === undefined ? await mount(handover.data.mounts) : undefined;
    if (mountFailure !== undefined) {
      await update({ status: "failed", completedAt: new Date().toISOString(), message: mountFailure });
    } else {
      const outcome = stopReason === undefined ? await run(handover.data.env) : { code: null, signal: null, startError: undefined };
      const ended = finalState(outcome);
      await update({ ...ended, message: `${ended.message ?? ""}${await fullDiskNote()}` });
    }
  }
} catch (error) {
  try {
    const why = isDiskFull(error) ? (await diskFullError(flowHome)).message : error instanceof Error ? error.message : String(error);
    await update({ status: "failed", completedAt: new Date().toISOString(), message: `the local runner failed: ${why}` });
  } catch (again) {
    // Not even in place: the reader that finds this supervisor gone records the loss.
    log(`flow task supervisor: could not record how the task ended: ${(again as Error).message}`);
    process.exitCode = 1;
  }
}
await rm(files.reserve, { force: true }).catch(() => {});
process.exit(process.exitCode ?? 0);

/**
 * When the disk holding FLOW_HOME ran full (the task's own output or files are the usual
 * cause), the task's end says so: its logs, and whatever it wrote, may be cut short.
 */
async function fullDiskNote(): Promise<string> {
  const free = await freeBytes(flowHome);
  if (!diskFull && (free === undefined || free >= RECORD_RESERVE_BYTES)) return "";
  return `; the disk holding FLOW_HOME (${flowHome}) is full${free === undefined ? "" : ` (${formatBytes(free)} free)`}, so its output may be cut short`;
}

/** To supervisor.log; on a full disk that may fail too, which must not end the supervisor. */
function log(message: string): void {
  try {
    process.stderr.write(`${message}\n`);
  } catch {
    // Nowhere left to say it.
  }
}

/** Stops the task at `deadlineMs`, however far off (a timer takes at most about 24 days). */
function stopAt(deadlineMs: number): void {
  const left = deadlineMs - Date.now();
  if (left <= 0) stop("deadline");
  else setTimeout(() => stopAt(deadlineMs), Math.min(left, 2 ** 31 - 1)).unref();
}

/**
 * The task's volumes and paths as symlinks in the workspace, and its S3 data copied there by the
 * S3 helper (credentials through its stdin). Undefined when done, else why it failed.
 */
async function mount(mounts: z.output<typeof HandoverSchema>["mounts"]): Promise<string | undefined> {
  for (const link of mounts.links) {
    const at = join(files.workspace, link.target);
    await mkdir(dirname(at), { recursive: true });
    try {
      await symlink(link.path, at);
    } catch (error) {
      return `could not mount ${link.path} at ${at}: ${(error as Error).message}`;
    }
  }
  for (const copy of mounts.s3) {
    const reason = join(files.dir, "s3-failure");
    const helper = spawn(process.execPath, ["--no-warnings", s3HelperPath(), "--credentials", "-", "--source", copy.source, "--dest", join(files.workspace, copy.target), "--reason", reason], {
      stdio: ["pipe", "ignore", "inherit"],
    });
    helper.stdin!.end(JSON.stringify(copy.access));
    const code = await new Promise<number | null>((resolve) => helper.once("error", () => resolve(null)).once("exit", (exitCode) => resolve(exitCode)));
    if (code !== 0) return (await readFile(reason, "utf8").catch(() => `data mount ${copy.source}: the S3 helper failed`)).trim();
  }
  return undefined;
}

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
      update({ status: "running", pid: started.pid, startedAt: new Date().toISOString() }).catch((error: unknown) =>
        log(`flow task supervisor: could not record that the task started: ${(error as Error).message}`),
      );
      // A cancel that raced the start (marker written, pid not yet recorded) is honored now.
      if (existsSync(files.cancelRequested)) stop("cancelled");
      else if (stopReason !== undefined) stop(stopReason);
      if (state.maxRunTimeMs !== undefined) setTimeout(() => stop("timeout"), state.maxRunTimeMs).unref();
      if (state.deadline !== undefined) stopAt(Date.parse(state.deadline));
    });
  });
  clearTimeout(killTimer);
  // The task is over when its command is: whatever it left running in its group goes too.
  if (started.pid !== undefined) killGroup(started.pid, "SIGKILL");
  if (outcome.startError !== undefined) await stderr.write(`flow: could not start ${JSON.stringify(file)}: ${outcome.startError.message}\n`).catch(() => {});
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
  if (stopReason === "deadline") {
    return { status: "failed", completedAt, message: `stopped at its deadline (deadlineHours, ${state.deadline})`, ...withCode };
  }
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
