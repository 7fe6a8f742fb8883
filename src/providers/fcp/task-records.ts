/**
 * What this machine remembers about its cloud tasks, beside what the API knows: the submitted
 * config (secret env redacted), that the user cancelled it, and the exit code once read from the
 * instance — which outlives the instance. `<FLOW_HOME or ~/.flow>/fcp/tasks/<bid fid>.json`.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { parseJsonOrUndefined } from "../../parse-json.ts";
import { resolveFlowHome } from "../flow-home.ts";
import { writeRecordFile } from "../record-files.ts";

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
  /** Why the client gave up on the task (e.g. a replacement instance it cannot deliver to). */
  failure: z.string().optional(),
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

  #skip(path: string, what: string): void {
    if (this.#skipped.has(path)) return;
    this.#skipped.add(path);
    this.#warn(`the local record of a task (${path}) ${what}; going by what the API says (delete the file if you no longer need it)`);
  }

  #path(taskId: string): string {
    return join(this.#dir, `${taskId.replace(/[^A-Za-z0-9_-]/g, "_")}.json`);
  }
}
