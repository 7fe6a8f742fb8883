/**
 * What this machine knows of its tasks on reserved capacity, which the API cannot say (a
 * reservation is not a task): the submitted config (secret env redacted), which reservation and
 * instances run it, and how it ended once that is known. One file per task under
 * `<FLOW_HOME>/fcp/reservation-tasks/`.
 */
import { join } from "node:path";
import * as z from "zod";
import { RecordDir } from "../record-dir.ts";

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
  /** When `flow cancel` began stopping it (see TaskRecord's field of the same name); taken back if it could not. */
  cancelRequestedAt: z.string().optional(),
  exitCode: z.number().int().optional(),
  failure: z.string().optional(),
  /** When the client learned that it ended (or ended it). */
  endedAt: z.string().optional(),
});
export type ReservationTaskRecord = z.infer<typeof ReservationTaskRecordSchema>;

export class ReservationTaskRecords {
  readonly #records: RecordDir<ReservationTaskRecord>;

  constructor(flowHome: string) {
    this.#records = new RecordDir({ flowHome, dir: join(flowHome, "fcp", "reservation-tasks"), schema: ReservationTaskRecordSchema });
  }

  read(taskId: string): Promise<ReservationTaskRecord | undefined> {
    return this.#records.read(taskId);
  }

  all(): Promise<ReservationTaskRecord[]> {
    return this.#records.list();
  }

  write(record: ReservationTaskRecord): Promise<void> {
    return this.#records.write(record.taskId, record);
  }

  update(taskId: string, change: Partial<ReservationTaskRecord>): Promise<void> {
    return this.#records.update(taskId, change);
  }
}
