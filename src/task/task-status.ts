/**
 * TaskStatus: where a task is in its life, as in the Python SDK's `flow.sdk.models.TaskStatus`.
 * `paused` and `preempting` come from the cloud (a spot instance being reclaimed); the local
 * provider never reports them, but every caller must be ready for them.
 */
import * as z from "zod";

export const TaskStatus = {
  PENDING: "pending",
  RUNNING: "running",
  PAUSED: "paused",
  PREEMPTING: "preempting",
  COMPLETED: "completed",
  FAILED: "failed",
  CANCELLED: "cancelled",
} as const;

export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

export const TASK_STATUSES = Object.values(TaskStatus) as readonly TaskStatus[];

export const TaskStatusSchema = z.enum(TASK_STATUSES as [TaskStatus, ...TaskStatus[]]);

/** A task in one of these states will not change again. */
export const TERMINAL_STATUSES: readonly TaskStatus[] = [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED];

export function isTerminalStatus(status: TaskStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}
