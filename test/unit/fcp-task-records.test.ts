// The client's records of its cloud tasks: a status poll and two log followers in one process
// update the same record at the same moment.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { TaskRecords } from "../../src/providers/fcp/task-records.ts";

const home = mkdtempSync(join(tmpdir(), "flow-task-records-"));
after(() => rmSync(home, { recursive: true, force: true }));

describe("task records", () => {
  test("concurrent updates of one record all land, and leave no temp files", async () => {
    const records = new TaskRecords(home);
    const base = { taskId: "bid_1", name: "t", createdAt: "2026-01-01T00:00:00Z", instanceTypeName: "a100-80gb.sxm.1x", region: "r", limitPrice: "$1.00" };
    await records.write(base);
    await Promise.all([
      records.update("bid_1", { exitCode: 3 }),
      records.update("bid_1", { cancelled: true }),
      records.update("bid_1", { deliveredTo: ["inst_1"] }),
      ...Array.from({ length: 10 }, () => records.update("bid_1", { exitCode: 3 })),
    ]);
    assert.deepEqual(await records.read("bid_1"), { ...base, exitCode: 3, cancelled: true, deliveredTo: ["inst_1"] });
    assert.deepEqual(readdirSync(join(home, "fcp", "tasks")), ["bid_1.json"]);
  });
});
