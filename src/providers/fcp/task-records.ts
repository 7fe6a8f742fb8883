/**
 * What this machine remembers about its cloud tasks, beside what the API knows: the submitted
 * config (secret env redacted), that the user cancelled it, and the exit code once read from the
 * instance — which outlives the instance. `<FLOW_HOME or ~/.flow>/fcp/tasks/<bid fid>.json`.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { parseJsonOrUndefined } from "../../parse-json.ts";
import { resolveFlowHome } from "../local/flow-home.ts";

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
  readonly #dir: string;

  constructor(home = resolveFlowHome()) {
    this.#dir = join(home, "fcp", "tasks");
  }

  async read(taskId: string): Promise<TaskRecord | undefined> {
    const text = await readFile(this.#path(taskId), "utf8").catch(() => undefined);
    if (text === undefined) return undefined;
    const parsed = TaskRecordSchema.safeParse(parseJsonOrUndefined(text));
    return parsed.success ? parsed.data : undefined;
  }

  async write(record: TaskRecord): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const path = this.#path(record.taskId);
    await writeFile(`${path}.tmp`, JSON.stringify(record, null, 2), { mode: 0o600 });
    await rename(`${path}.tmp`, path);
  }

  async update(taskId: string, change: Partial<TaskRecord>): Promise<void> {
    const current = await this.read(taskId);
    if (current !== undefined) await this.write({ ...current, ...change });
  }

  #path(taskId: string): string {
    return join(this.#dir, `${taskId.replace(/[^A-Za-z0-9_-]/g, "_")}.json`);
  }
}
