/**
 * The local provider's record of one task (`state.json`). The submitter writes the first version
 * (pending); from then on the task's supervisor owns it and writes every transition. Only when
 * the supervisor is gone does anyone else write it (cancel, or noticing the loss).
 *
 * Every read goes through the zod schema: the file may be from an older SDK, half-edited by
 * hand, or not ours at all. Writes replace the file atomically (write beside, rename), so a
 * reader in another process sees the old version or the new one, never a mix.
 */
import { randomBytes } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import { z } from "zod";
import { ProviderError, TaskNotFoundError } from "../../errors.ts";
import { TaskConfigSchema } from "../../task/task-config.ts";
import type { TaskInfo } from "../../task/task-info.ts";
import { TaskStatusSchema } from "../../task/task-status.ts";

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

export async function writeTaskState(file: string, state: LocalTaskState): Promise<void> {
  const checked = LocalTaskStateSchema.parse(state);
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temp, `${JSON.stringify(checked, null, 2)}\n`, { mode: 0o600 });
  await rename(temp, file);
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
    endpoints: {},
    instances: [`${state.taskId}-0`],
    ...(state.message === undefined ? {} : { message: state.message }),
    ...(state.exitCode === undefined ? {} : { exitCode: state.exitCode }),
    providerMetadata: {
      provider: "local",
      workspace,
      ...(state.pid === undefined ? {} : { pid: state.pid }),
      ...(state.supervisorPid === undefined ? {} : { supervisorPid: state.supervisorPid }),
    },
  };
}
