/**
 * What this machine remembers about its cloud tasks, beside what the API knows: the submitted
 * config (secret env redacted), that the user cancelled it, the exit code and final logs once
 * read from the instance — which outlive the instance —, its attempts (one bid each) and what
 * each needs uploaded. `<FLOW_HOME or ~/.flow>/fcp/tasks/<first bid fid>.json`, logs beside it.
 */
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { parseJsonOrUndefined } from "../../parse-json.ts";
import { resolveFlowHome } from "../flow-home.ts";
import { writeRecordFile } from "../record-files.ts";

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
  readonly #home: string;
  readonly #dir: string;
  /** Per task, the last update in flight: updates from one process (a status poll and two log followers) take turns. */
  readonly #updating = new Map<string, Promise<void>>();

  readonly #warn: (message: string) => void;
  /** Damaged records already warned about. */
  readonly #skipped = new Set<string>();

  /** `onWarning`: told (once per file) about a damaged record, which is then read as none. */
  constructor(home = resolveFlowHome(), onWarning: (message: string) => void = () => {}) {
    this.#home = home;
    this.#dir = join(home, "fcp", "tasks");
    this.#warn = onWarning;
  }

  /** The task's record; undefined when there is none, or it is damaged (with a warning). */
  async read(taskId: string): Promise<TaskRecord | undefined> {
    const path = this.#path(taskId);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") this.#skip(path, `cannot be read (${code ?? (error as Error).message})`);
      return undefined;
    }
    const raw = parseJsonOrUndefined(text);
    const parsed = TaskRecordSchema.safeParse(raw);
    if (parsed.success) return parsed.data;
    const first = parsed.error.issues[0];
    this.#skip(path, `is unreadable: ${raw === undefined || first === undefined ? "not JSON" : `${first.path.join(".") || "(root)"}: ${first.message}`}`);
    return undefined;
  }

  /**
   * Written beside under a name of its own and renamed into place: concurrent writers never share
   * a temp file. A full disk is a clear error (record-files.ts), with no temp file left.
   */
  async write(record: TaskRecord): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await writeRecordFile(this.#path(record.taskId), JSON.stringify(record, null, 2), this.#home);
  }

  /** Read, change, write; one at a time per task in this process, so no change is lost. */
  update(taskId: string, change: Partial<TaskRecord>): Promise<void> {
    const previous = this.#updating.get(taskId) ?? Promise.resolve();
    const next = previous.then(async () => {
      const current = await this.read(taskId);
      if (current !== undefined) await this.write({ ...current, ...change });
    });
    const settled = next.catch(() => {});
    this.#updating.set(taskId, settled);
    void settled.then(() => {
      if (this.#updating.get(taskId) === settled) this.#updating.delete(taskId);
    });
    return next;
  }

  /** Every readable record (damaged ones skipped with a warning), in no order. */
  async list(): Promise<TaskRecord[]> {
    const names = await readdir(this.#dir).catch(() => [] as string[]);
    const records = await Promise.all(names.filter((n) => n.endsWith(".json")).map((n) => this.read(n.slice(0, -".json".length))));
    return records.filter((r) => r !== undefined);
  }

  /** Where a task's copied logs live: `<dir>/<task>/node-<k>/{stdout,stderr,startup}.log`. */
  logsDir(taskId: string): string {
    return join(this.#dir, safeName(taskId));
  }

  #skip(path: string, what: string): void {
    if (this.#skipped.has(path)) return;
    this.#skipped.add(path);
    this.#warn(`the local record of a task (${path}) ${what}; going by what the API says (delete the file if you no longer need it)`);
  }

  #path(taskId: string): string {
    return join(this.#dir, `${safeName(taskId)}.json`);
  }
}

function safeName(taskId: string): string {
  return taskId.replace(/[^A-Za-z0-9_-]/g, "_");
}
