/**
 * The local provider's record of one task (`state.json`). The submitter writes the first version
 * (pending); from then on the task's supervisor owns it and writes every transition. Only when
 * the supervisor is gone does anyone else write it (cancel, or noticing the loss).
 *
 * Every read goes through the zod schema: the file may be from an older SDK, half-edited by
 * hand, or not ours at all. Writes replace the file atomically (write beside, rename), so a
 * reader in another process sees the old version or the new one, never a mix; a full disk is
 * reported as such (record-files.ts), and the supervisor has a fallback for it (below).
 */
import { randomBytes } from "node:crypto";
import { open, readFile, rm } from "node:fs/promises";
import * as z from "zod";
import { ProviderError, TaskNotFoundError } from "../../errors.ts";
import { DEFAULT_IMAGE, TaskConfigSchema, type TaskConfig } from "../../task/task-config.ts";
import type { TaskInfo } from "../../task/task-info.ts";
import { TaskStatusSchema } from "../../task/task-status.ts";
import { DISK_FULL, writeRecordFile } from "../record-files.ts";

/** `task-` and 12 hex digits. Anything else given as an id is looked up as a name instead. */
export const TASK_ID = /^task-[0-9a-f]{12}$/;

export function newTaskId(): string {
  return `task-${randomBytes(6).toString("hex")}`;
}

const Time = z.iso.datetime();

export const LocalTaskStateSchema = z.strictObject({
  version: z.literal(1),
  taskId: z.string().regex(TASK_ID),
  name: z.string().min(1),
  status: TaskStatusSchema,
  /** With secret-looking env values redacted; the real ones never touch the disk. */
  config: TaskConfigSchema,
  /** What the supervisor executes (after unpacking the code), in the workspace. */
  argv: z.array(z.string()).min(1),
  /** The running time after which the supervisor stops the task (maxRunTimeHours). */
  maxRunTimeMs: z.number().positive().optional(),
  /** When the task must be done (deadlineHours from submission): not started after, stopped at it. */
  deadline: Time.optional(),
  instanceType: z.string(),
  region: z.string(),
  costPerHour: z.string(),
  createdBy: z.string().optional(),
  createdAt: Time,
  startedAt: Time.optional(),
  completedAt: Time.optional(),
  supervisorPid: z.number().int().positive().optional(),
  /** The command's pid, which is also its process group id. */
  pid: z.number().int().positive().optional(),
  exitCode: z.number().int().optional(),
  message: z.string().optional(),
});

export type LocalTaskState = z.output<typeof LocalTaskStateSchema>;

/**
 * What the supervisor sets aside (a file it deletes when the disk is full) so that a task that
 * fills the disk does not take the record of how it ended with it: room for a record many times over.
 */
export const RECORD_RESERVE_BYTES = 64 * 1024;

/** The error code of a record that exists but cannot be read or is not a valid record. */
export const TASK_STATE_INVALID = "task_state_invalid";

export async function readTaskState(file: string, taskId: string): Promise<LocalTaskState> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw notFound(taskId);
    throw unreadable(taskId, file, `cannot be read (${code ?? (error as Error).message})`, error);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = undefined;
  }
  const parsed = LocalTaskStateSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const detail = raw === undefined || first === undefined ? "not JSON" : `${first.path.join(".") || "(root)"}: ${first.message}`;
    throw unreadable(taskId, file, `is unreadable: ${detail}`);
  }
  return parsed.data;
}

function unreadable(taskId: string, file: string, what: string, cause?: unknown): ProviderError {
  return new ProviderError(`The record of task ${taskId} (${file}) ${what}`, {
    suggestions: ["It may be damaged or from another version of flow-sdk; delete its directory if you no longer need it."],
    errorCode: TASK_STATE_INVALID,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Replaces the record atomically; a full disk is a ProviderError (DISK_FULL) naming `flowHome`, with no temp file left. */
export async function writeTaskState(file: string, state: LocalTaskState, flowHome: string): Promise<void> {
  await writeRecordFile(file, recordText(state), flowHome);
}

/**
 * For an outcome that must be kept however full the disk is (how a task ended, a cancel, a
 * supervisor found gone): writeTaskState; on a full disk, again after deleting `reserve` (space
 * the supervisor set aside), then over the old record in place. Resolves to whether the disk
 * was full; rejects only when even that failed.
 */
export async function keepTaskState(file: string, state: LocalTaskState, flowHome: string, reserve?: string): Promise<{ diskFull: boolean }> {
  try {
    await writeTaskState(file, state, flowHome);
    return { diskFull: false };
  } catch (error) {
    if (!isDiskFullError(error)) throw error;
  }
  if (reserve !== undefined && (await rm(reserve).then(() => true, () => false))) {
    try {
      await writeTaskState(file, state, flowHome);
      return { diskFull: true };
    } catch (error) {
      if (!isDiskFullError(error)) throw error;
    }
  }
  await overwriteTaskState(file, state);
  return { diskFull: true };
}

function isDiskFullError(error: unknown): boolean {
  return error instanceof ProviderError && error.errorCode === DISK_FULL;
}

/**
 * The last resort on a full disk: the new record written over the old one in place, which takes
 * no new space while it fits the blocks the old one has. It is padded with spaces (JSON allows
 * them) to the old length, so no tail of the old record is left after it. Not atomic: a reader
 * may, rarely, see a mix, and reports the record unreadable then.
 */
async function overwriteTaskState(file: string, state: LocalTaskState): Promise<void> {
  const text = Buffer.from(recordText(state));
  const handle = await open(file, "r+");
  try {
    const { size } = await handle.stat();
    const padded = text.length >= size ? text : Buffer.concat([text, Buffer.alloc(size - text.length, " ")]);
    await handle.write(padded, 0, padded.length, 0);
  } finally {
    await handle.close();
  }
}

function recordText(state: LocalTaskState): string {
  return `${JSON.stringify(LocalTaskStateSchema.parse(state), null, 2)}\n`;
}

export function notFound(idOrName: string): TaskNotFoundError {
  return new TaskNotFoundError(`No task ${JSON.stringify(idOrName)} on the local provider.`, {
    suggestions: ["`flow list` shows your tasks and their ids.", "Tasks live under FLOW_HOME (default ~/.flow): check it is the same in this shell."],
    errorCode: "task_not_found",
  });
}

export function taskInfoFromState(state: LocalTaskState, workspace: string): TaskInfo {
  const date = (iso: string | undefined) => (iso === undefined ? undefined : new Date(iso));
  const startedAt = date(state.startedAt);
  const completedAt = date(state.completedAt);
  return {
    taskId: state.taskId,
    name: state.name,
    status: state.status,
    config: state.config,
    createdAt: new Date(state.createdAt),
    ...(startedAt === undefined ? {} : { startedAt, instanceCreatedAt: startedAt }),
    ...(completedAt === undefined ? {} : { completedAt }),
    instanceType: state.instanceType,
    numInstances: 1,
    region: state.region,
    costPerHour: state.costPerHour,
    // A free instance's total is known without metering.
    ...(state.costPerHour === "$0.00" ? { totalCost: "$0.00" } : {}),
    ...(state.createdBy === undefined ? {} : { createdBy: state.createdBy }),
    // Its ports are this machine's: reachable as they are while it runs.
    endpoints: state.status === "running" ? Object.fromEntries(state.config.ports.map((port) => [String(port), `http://127.0.0.1:${port}`])) : {},
    instances: [`${state.taskId}-0`],
    ...(state.message === undefined ? {} : { message: state.message }),
    ...(state.exitCode === undefined ? {} : { exitCode: state.exitCode }),
    providerMetadata: {
      provider: "local",
      workspace,
      notApplied: notAppliedLocally(state.config),
      ...(state.pid === undefined ? {} : { pid: state.pid }),
      ...(state.supervisorPid === undefined ? {} : { supervisorPid: state.supervisorPid }),
    },
  };
}

/**
 * What the task asks of a machine or a market that a local task does not get: said, not silently
 * dropped (`flow run` and `flow status` show it), e.g. "instance type a100".
 */
export function notAppliedLocally(config: TaskConfig): string[] {
  return [
    ...(config.instanceType === undefined ? [] : [`instance type ${config.instanceType}`]),
    ...(config.minGpuMemoryGb === undefined ? [] : [`${config.minGpuMemoryGb} GB of GPU memory`]),
    ...(config.image === DEFAULT_IMAGE ? [] : [`image ${config.image}`]),
    ...(config.region === undefined ? [] : [`region ${config.region}`]),
    ...(config.maxPricePerHour === undefined ? [] : [`maxPricePerHour $${config.maxPricePerHour}`]),
    ...(config.priority === "med" ? [] : [`priority ${config.priority}`]),
    ...(config.keepAliveMinutes === 0 ? [] : [`keepAliveMinutes ${config.keepAliveMinutes}`]),
  ];
}
