// Records written under FLOW_HOME when its disk is full: a real full disk, a 1 MB tmpfs filled to
// the last byte. Mounting one needs root; without it these tests say so and are skipped.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import { ProviderError } from "../../src/errors.ts";
import { BidLedger } from "../../src/providers/fcp/bid-ledger.ts";
import { TaskRecords } from "../../src/providers/fcp/task-records.ts";
import { DISK_FULL } from "../../src/providers/record-files.ts";
import { keepTaskState, readTaskState, writeTaskState, type LocalTaskState } from "../../src/providers/local/task-state.ts";
import { parseTaskConfig } from "../../src/task/task-config.ts";

const home = mkdtempSync(join(tmpdir(), "flow-full-disk-unit-"));
let mountError: string | undefined;
const ballast = join(home, "ballast");

before(() => {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", home], { stdio: "pipe" });
  } catch (error) {
    mountError = String((error as { stderr?: Buffer }).stderr ?? (error as Error).message).trim();
  }
});

after(() => {
  if (mountError === undefined) execFileSync("umount", [home]);
  rmSync(home, { recursive: true, force: true });
});

/** Fills the disk to the last byte. */
function fill(): void {
  try {
    writeFileSync(ballast, Buffer.alloc(2 * 1024 * 1024), { flag: "a" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  }
}

function mounted(t: TestContext): boolean {
  if (mountError !== undefined) t.skip(`needs a small tmpfs to fill (mount -t tmpfs as root): ${mountError}`);
  return mountError === undefined;
}

const diskFull = (error: unknown) =>
  error instanceof ProviderError && error.errorCode === DISK_FULL && error.message.startsWith(`The disk holding FLOW_HOME (${home}) is full (0 bytes free,`);

const tempFiles = () => readdirSync(home, { recursive: true }).map(String).filter((path) => path.endsWith(".tmp"));

describe("a full FLOW_HOME", () => {
  test("a cloud task record is refused as a full disk, naming FLOW_HOME, with no temp file left", async (t) => {
    if (!mounted(t)) return;
    const records = new TaskRecords(home);
    mkdirSync(join(home, "fcp", "tasks"), { recursive: true });
    fill();
    const record = { taskId: "bid_1", name: "t", createdAt: "2026-01-01T00:00:00Z", instanceTypeName: "a100-80gb.sxm.1x", region: "r", limitPrice: "$1.00" };
    await assert.rejects(records.write(record), diskFull);
    assert.deepEqual(tempFiles(), []);
    rmSync(ballast);
  });

  test("a bid's intent cannot be recorded, so it is never posted", async (t) => {
    if (!mounted(t)) return;
    mkdirSync(join(home, "fcp", "open-bids"), { recursive: true });
    fill();
    await assert.rejects(new BidLedger(home).intend("flow-fn-x-00000000", "proj_1"), diskFull);
    assert.deepEqual(tempFiles(), []);
    rmSync(ballast);
  });

  test("how a task ended is kept: with the reserve given up, and else over the old record in place", async (t) => {
    if (!mounted(t)) return;
    const file = join(home, "state.json");
    const reserve = join(home, "reserve");
    const running: LocalTaskState = {
      version: 1,
      taskId: "task-0123456789ab",
      name: "job",
      status: "running",
      config: parseTaskConfig({ instanceType: "a100", command: "echo hi" }),
      argv: ["/bin/sh", "-c", "echo hi"],
      instanceType: "local",
      region: "local",
      costPerHour: "$0.00",
      createdAt: new Date(0).toISOString(),
      pid: 123,
    };
    await writeTaskState(file, running, home);
    writeFileSync(reserve, Buffer.alloc(64 * 1024));
    fill();
    await assert.rejects(writeTaskState(file, { ...running, message: "x" }, home), diskFull);

    const ended = { ...running, status: "completed" as const, exitCode: 0, message: "exited with code 0" };
    assert.deepEqual(await keepTaskState(file, ended, home, reserve), { diskFull: true });
    assert.ok(!readdirSync(home).includes("reserve"), "the reserve was given up");
    assert.deepEqual(await readTaskState(file, running.taskId), ended);

    fill();
    const cancelled = { ...running, status: "cancelled" as const, message: "cancelled" };
    assert.deepEqual(await keepTaskState(file, cancelled, home, reserve), { diskFull: true });
    assert.deepEqual(await readTaskState(file, running.taskId), cancelled, "written in place, padded to the old length");
    assert.match(readFileSync(file, "utf8"), /\}\n +$/);
    assert.deepEqual(tempFiles(), []);
    rmSync(ballast);
  });
});
