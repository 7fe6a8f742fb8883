// The client's records of its cloud tasks: a status poll and two log followers in one process
// update the same record at the same moment.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
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

  test("a damaged record reads as none, with one warning naming the file", async () => {
    const warnings: string[] = [];
    const records = new TaskRecords(join(home, "damaged"), (message) => warnings.push(message));
    const dir = join(home, "damaged", "fcp", "tasks");
    mkdirSync(join(dir, "bid_dir.json"), { recursive: true });
    writeFileSync(join(dir, "bid_cut.json"), '{"taskId": "bid_cut", "na');
    writeFileSync(join(dir, "bid_odd.json"), '{"taskId": "bid_odd"}');
    for (let i = 0; i < 2; i++) {
      assert.equal(await records.read("bid_cut"), undefined);
      assert.equal(await records.read("bid_odd"), undefined);
      assert.equal(await records.read("bid_dir"), undefined);
      assert.equal(await records.read("bid_absent"), undefined);
    }
    assert.equal(warnings.length, 3, warnings.join("\n"));
    assert.match(warnings[0]!, new RegExp(`\\(${join(dir, "bid_cut.json")}\\) is unreadable: not JSON`));
    assert.match(warnings[1]!, new RegExp(`\\(${join(dir, "bid_odd.json")}\\) is unreadable: name: `));
    assert.match(warnings[2]!, new RegExp(`\\(${join(dir, "bid_dir.json")}\\) cannot be read \\(EISDIR\\)`));
  });
});
