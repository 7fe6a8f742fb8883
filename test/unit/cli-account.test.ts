// The CLI's pieces for the cloud account: flow run's flags as TaskConfig fields, and the price chart.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parseFlags, TaskFlagsSchema, taskOverridesFrom } from "../../src/cli/cli-inputs.ts";
import { areaChart } from "../../src/cli/text-chart.ts";
import { ValidationError } from "../../src/errors.ts";
import { parseTaskConfig } from "../../src/task/task-config.ts";
import { tempDir } from "../e2e/helpers.ts";

const overrides = (flags: Record<string, unknown>) => taskOverridesFrom(parseFlags(TaskFlagsSchema, flags));

describe("flow run's flags", () => {
  test("volumes, data, ports, keys and nodes become TaskConfig fields that validate", () => {
    const given = overrides({
      instanceType: "a100",
      volume: ["ckpt:/mnt/ckpt:100", "vol_abc:/mnt/old"],
      data: ["/data=s3://bucket/prefix=x"],
      port: ["8080", "8081"],
      sshKey: ["laptop"],
      numInstances: "2",
      priority: "high",
      image: "pytorch/pytorch:latest",
      terminateOnExit: true,
    });
    assert.deepEqual(given, {
      instanceType: "a100",
      volumes: [{ name: "ckpt", mountPath: "/mnt/ckpt", sizeGb: 100 }, { volumeId: "vol_abc", mountPath: "/mnt/old" }],
      dataMounts: [{ target: "/data", source: "s3://bucket/prefix=x" }],
      ports: [8080, 8081],
      sshKeys: ["laptop"],
      numInstances: 2,
      priority: "high",
      image: "pytorch/pytorch:latest",
      terminateOnExit: true,
    });
    const config = parseTaskConfig({ command: "true", ...given });
    assert.equal(config.volumes[0]?.sizeGb, 100);
    assert.equal(config.dataMounts[0]?.mountType, "s3fs");
  });

  test("a reservation, or hours to reserve, imply reserved capacity unless the mode is given", () => {
    assert.deepEqual(overrides({ reservation: "res_1" }), { reservationId: "res_1", allocationMode: "reserved" });
    assert.deepEqual(overrides({ reservedHours: "6", startTime: "2030-07-01T09:00:00Z" }), {
      reservedDurationHours: 6,
      scheduledStartTime: "2030-07-01T09:00:00Z",
      allocationMode: "reserved",
    });
    assert.deepEqual(overrides({ allocationMode: "auto" }), { allocationMode: "auto" });
    // Given both, the config's own rules say what is wrong.
    assert.throws(() => parseTaskConfig({ command: "true", instanceType: "a100", ...overrides({ reservation: "res_1", allocationMode: "spot" }) }), /reservationId/);
  });

  test("--env wins over --env-file, which Node's dotenv parser reads", () => {
    const file = join(tempDir(), "train.env");
    writeFileSync(file, 'export A="quoted value"\nB=from-file # comment\n');
    assert.deepEqual(overrides({ envFile: file, env: ["B=from-flag"] }).env, { A: "quoted value", B: "from-flag" });
    assert.throws(() => overrides({ envFile: join(tempDir(), "missing.env") }), /--env-file: cannot read .*ENOENT/);
  });

  test("bad values name the flag", () => {
    for (const [flags, flag] of [
      [{ volume: ["ckpt"] }, "--volume"],
      [{ data: ["s3://bucket"] }, "--data"],
      [{ port: ["http"] }, "--port"],
      [{ startTime: "tomorrow" }, "--start-time"],
      [{ numInstances: "0" }, "--num-instances"],
    ] as const) {
      assert.throws(() => overrides(flags), (error: unknown) => error instanceof ValidationError && error.issues.some((issue) => issue.path === flag), flag);
    }
  });
});

describe("the price chart", () => {
  test("has the highest and lowest value on its axis, a column per point, and the first and last time", () => {
    const rows = areaChart([1, 2, 3, 4], { height: 4, label: (v) => `$${v.toFixed(2)}`, from: "Mon", to: "Sun" });
    assert.deepEqual(rows, [
      "$4.00 ┤   █",
      "      │  ██",
      "      │ ███",
      "$1.00 ┤████",
      "      └────",
      "       Mon Sun",
    ]);
  });

  test("averages more points than columns, and draws a flat series as a bar", () => {
    const rows = areaChart(Array.from({ length: 100 }, () => 2), { height: 3, width: 10, label: String, from: "a", to: "b" });
    assert.equal(rows[2], "2 ┤██████████");
    assert.equal(rows[3], "  └──────────");
  });
});
