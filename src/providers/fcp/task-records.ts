/**
 * What this machine remembers about its cloud tasks, beside what the API knows: the submitted
 * config (secret env redacted), that the user cancelled it, the exit code and final logs once
 * read from the instance — which outlive the instance —, its attempts (one bid each) and what
 * each needs uploaded. `<FLOW_HOME or ~/.flow>/fcp/tasks/<first bid fid>.json`, logs beside it.
 */
import { join } from "node:path";
import * as z from "zod";
import { resolveFlowHome } from "../flow-home.ts";
import { RecordDir } from "../record-dir.ts";

const AttemptSchema = z.object({
  /** The attempt's bid. */
  bid: z.string(),
  placedAt: z.string(),
  endedAt: z.string().optional(),
  /** Why it ended without the task ending: "preempted", "instance inst_… failed (STATUS_ERROR)". */
  outcome: z.string().optional(),
  /** Instances that got this attempt's SFTP uploads (code archive, secret env). */
  deliveredTo: z.array(z.string()).optional(),
});
export type AttemptRecord = z.infer<typeof AttemptSchema>;

/** What the client uploads to each instance before the command may start; redone on every attempt. */
const UploadsSchema = z.object({
  /** The code archive, kept under FLOW_HOME while the task may be retried (absent: none, or inline). */
  archivePath: z.string().optional(),
  /** Names only: the values live in the submitting process's memory, never on disk. */
  secretEnvNames: z.array(z.string()),
  ranks: z.boolean(),
  /** S3 data mounts: the helper and the credentials (resolved again from the user's AWS settings). */
  s3: z.array(z.object({ field: z.string(), profile: z.string().optional() })),
});
export type UploadsRecord = z.infer<typeof UploadsSchema>;

const TaskRecordSchema = z.object({
  taskId: z.string(),
  name: z.string(),
  createdAt: z.string(),
  /** The TaskConfig as submitted, secret-looking env values redacted. */
  config: z.record(z.string(), z.unknown()).optional(),
  instanceTypeName: z.string(),
  region: z.string(),
  limitPrice: z.string(),
  cancelled: z.boolean().optional(),
  /**
   * When `flow cancel` asked the API to end the bid: written before asking, so that another process
   * that sees the bid end reads it as cancelled by the user even before (or if never) `cancelled`
   * is written; taken back when the API refuses.
   */
  cancelRequestedAt: z.string().optional(),
  exitCode: z.number().int().optional(),
  /** Instances that got the task's SFTP uploads (code archive, secret env). */
  deliveredTo: z.array(z.string()).optional(),
  /** Why the task failed, in words: the client gave up on it, or its machine said why (a setup step, a time limit). */
  failure: z.string().optional(),
  /** When the instance that ran the command was created: kept for when it is gone. */
  startedAt: z.string().optional(),
  /** When the client saw the task end (its exit code, a failure, a cancel). */
  endedAt: z.string().optional(),
  /** Every attempt, oldest first; absent for a task that only ever had its first bid (the task id). */
  attempts: z.array(AttemptSchema).optional(),
  /** When the next attempt may be placed (a retry's backoff), while it waits. */
  retryAt: z.string().optional(),
  uploads: UploadsSchema.optional(),
  /** The final logs were copied here (logsDir), from this many nodes: they outlive the instances. */
  logs: z.object({ nodes: z.number().int(), collectedAt: z.string() }).optional(),
  /** The price paid and the total, at the end (the API's pricing history may not keep them forever). */
  cost: z.object({ perHour: z.string(), total: z.string() }).optional(),
});
export type TaskRecord = z.infer<typeof TaskRecordSchema>;

export class TaskRecords {
  readonly #records: RecordDir<TaskRecord>;

  /** `onWarning`: told (once per file) about a damaged record, which is then read as none. */
  constructor(home = resolveFlowHome(), onWarning: (message: string) => void = () => {}) {
    this.#records = new RecordDir({ flowHome: home, dir: join(home, "fcp", "tasks"), schema: TaskRecordSchema, onWarning });
  }

  /** The task's record; undefined when there is none, or it is damaged (with a warning). */
  read(taskId: string): Promise<TaskRecord | undefined> {
    return this.#records.read(taskId);
  }

  write(record: TaskRecord): Promise<void> {
    return this.#records.write(record.taskId, record);
  }

  update(taskId: string, change: Partial<TaskRecord>): Promise<void> {
    return this.#records.update(taskId, change);
  }

  list(): Promise<TaskRecord[]> {
    return this.#records.list();
  }

  /** Where a task's copied logs live: `<dir>/<task>/node-<k>/{stdout,stderr,startup}.log`. */
  logsDir(taskId: string): string {
    return join(this.#records.dir, this.#records.safeName(taskId));
  }
}
