/**
 * What this machine knows of its tasks on reserved capacity, which the API cannot say (a
 * reservation is not a task): the submitted config (secret env redacted), which reservation and
 * instances run it, and how it ended once that is known. One file per task under
 * `<FLOW_HOME>/fcp/reservation-tasks/`.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { parseJsonOrUndefined } from "../../parse-json.ts";

const ReservationTaskRecordSchema = z.object({
  taskId: z.string(),
  name: z.string(),
  createdAt: z.string(),
  config: z.record(z.string(), z.unknown()),
  /**
   * "reservation": the task reserved capacity for itself and boots with it (its id is the
   * reservation's); "delivered": it was delivered over SSH to a reservation's instances.
   */
  kind: z.enum(["reservation", "delivered"]),
  reservation: z.string(),
  instanceTypeName: z.string(),
  region: z.string(),
  /** Dollar string per instance-hour, as the API writes prices. */
  unitPrice: z.string(),
  /** The instances it was delivered to, rank order. */
  instances: z.array(z.string()).default([]),
  cancelled: z.boolean().optional(),
  exitCode: z.number().int().optional(),
  failure: z.string().optional(),
  /** When the client learned that it ended (or ended it). */
  endedAt: z.string().optional(),
});
export type ReservationTaskRecord = z.infer<typeof ReservationTaskRecordSchema>;

export class ReservationTaskRecords {
  readonly #dir: string;
  /** Per task, the last update in flight, so concurrent updates from one process take turns. */
  readonly #updating = new Map<string, Promise<void>>();

  constructor(flowHome: string) {
    this.#dir = join(flowHome, "fcp", "reservation-tasks");
  }

  async read(taskId: string): Promise<ReservationTaskRecord | undefined> {
    const text = await readFile(this.#path(taskId), "utf8").catch(() => undefined);
    const parsed = ReservationTaskRecordSchema.safeParse(text === undefined ? undefined : parseJsonOrUndefined(text));
    return parsed.success ? parsed.data : undefined;
  }

  async all(): Promise<ReservationTaskRecord[]> {
    const names = await readdir(this.#dir).catch(() => [] as string[]);
    const records = await Promise.all(names.filter((n) => n.endsWith(".json")).map((n) => this.read(n.slice(0, -".json".length))));
    return records.filter((r): r is ReservationTaskRecord => r !== undefined);
  }

  /** Written beside and renamed into place, so a reader never sees half a record. */
  async write(record: ReservationTaskRecord): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const path = this.#path(record.taskId);
    const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    await writeFile(temp, JSON.stringify(record, null, 2), { mode: 0o600 });
    await rename(temp, path);
  }

  update(taskId: string, change: Partial<ReservationTaskRecord>): Promise<void> {
    const next = (this.#updating.get(taskId) ?? Promise.resolve()).then(async () => {
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

  #path(taskId: string): string {
    return join(this.#dir, `${taskId.replace(/[^A-Za-z0-9_-]/g, "_")}.json`);
  }
}
