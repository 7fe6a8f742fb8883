// A task's status on FCP, from the spec's bid and instance enums plus what only the client knows.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Bid, BidStatus, Instance, InstanceStatus } from "../../src/providers/fcp/api/schemas.ts";
import { taskStatusFromApi } from "../../src/providers/fcp/task-status-from-api.ts";
import { TaskStatus } from "../../src/task/task-status.ts";

function bid(status: BidStatus): Bid {
  return {
    fid: "bid_1",
    name: "job",
    project: "proj_1",
    created_by: "user_1",
    created_at: "2026-11-29T10:00:00Z",
    limit_price: "$2.25",
    instance_quantity: 1,
    instance_type: "it_1",
    region: "us-central1-a",
    instances: [],
    launch_specification: { volumes: [], ssh_keys: ["sshkey_1"] },
    status,
  };
}

function instance(status: InstanceStatus, fid = "inst_1"): Instance {
  return { fid, name: fid, project: "proj_1", created_at: "2026-11-29T10:00:05Z", created_by: "user_1", instance_type: "it_1", status };
}

const statusOf = (bidStatus: BidStatus, instances: InstanceStatus[], observed = {}) =>
  taskStatusFromApi(bid(bidStatus), instances.map((status, i) => instance(status, `inst_${i}`)), observed).status;

describe("task status from the FCP API", () => {
  test("an open bid waits for capacity, with its limit price in the message", () => {
    const derived = taskStatusFromApi(bid("Open"), [], {});
    assert.equal(derived.status, TaskStatus.PENDING);
    assert.match(derived.message, /\$2\.25/);
  });

  test("a pending task's message says what it waits for", () => {
    assert.equal(taskStatusFromApi(bid("Open"), [], {}).message, "waiting for an instance (bid Open, up to $2.25/h)");
    assert.equal(taskStatusFromApi(bid("Allocated"), [instance("STATUS_INITIALIZING")], {}).message, "instance allocated, booting (STATUS_INITIALIZING)");
    assert.equal(taskStatusFromApi(bid("Allocated"), [], {}).message, "instance allocated, booting");
  });

  test("an open bid under the spot price is outbid, with the price to raise it to; at or over it, it just waits", () => {
    const outbid = taskStatusFromApi(bid("Open"), [instance("STATUS_PREEMPTED")], {}, { marketPricePerHour: 3.5 });
    assert.deepEqual(outbid, {
      status: TaskStatus.PENDING,
      outbid: true,
      message: "outbid: the spot price is $3.50/h, above this bid's limit of $2.25/h; raise it with `flow reprice bid_1 4.38`",
    });
    assert.equal(taskStatusFromApi(bid("Open"), [], {}, { marketPricePerHour: 2.25 }).message, "waiting for an instance (bid Open, up to $2.25/h)");
    assert.equal(taskStatusFromApi(bid("Open"), [], { cancelled: true }, { marketPricePerHour: 3.5 }).status, TaskStatus.CANCELLED);
  });

  test("an open bid whose instance was preempted is pending a restart", () => {
    const derived = taskStatusFromApi(bid("Open"), [instance("STATUS_PREEMPTED")], {});
    assert.equal(derived.status, TaskStatus.PENDING);
    assert.match(derived.message, /preempted/);
  });

  test("an allocated bid is pending while its instances boot and running once all run", () => {
    for (const booting of ["STATUS_NEW", "STATUS_CONFIRMED", "STATUS_INITIALIZING", "STATUS_STARTING"] as const) {
      assert.equal(statusOf("Allocated", [booting]), TaskStatus.PENDING, booting);
    }
    assert.equal(statusOf("Allocated", []), TaskStatus.PENDING);
    assert.equal(statusOf("Allocated", ["STATUS_RUNNING", "STATUS_RUNNING"]), TaskStatus.RUNNING);
  });

  test("preempting and paused come from the bid or from any instance", () => {
    assert.equal(statusOf("Preempting", ["STATUS_RUNNING"]), TaskStatus.PREEMPTING);
    assert.equal(statusOf("Allocated", ["STATUS_RUNNING", "STATUS_PREEMPTING"]), TaskStatus.PREEMPTING);
    assert.equal(statusOf("Paused", []), TaskStatus.PAUSED);
    assert.equal(statusOf("Allocated", ["STATUS_PAUSED"]), TaskStatus.PAUSED);
  });

  test("an instance in STATUS_ERROR fails the task, naming the instance", () => {
    const derived = taskStatusFromApi(bid("Allocated"), [instance("STATUS_RUNNING", "inst_a"), instance("STATUS_ERROR", "inst_b")], {});
    assert.equal(derived.status, TaskStatus.FAILED);
    assert.match(derived.message, /inst_b/);
  });

  test("the exit code read from the instance decides completed or failed, whatever the bid says", () => {
    assert.equal(statusOf("Allocated", ["STATUS_RUNNING"], { exitCode: 0 }), TaskStatus.COMPLETED);
    assert.equal(statusOf("Terminated", [], { exitCode: 0 }), TaskStatus.COMPLETED);
    const failed = taskStatusFromApi(bid("Terminated"), [], { exitCode: 3 });
    assert.equal(failed.status, TaskStatus.FAILED);
    assert.match(failed.message, /code 3/);
  });

  test("a task the client gave up on fails with the client's reason", () => {
    const derived = taskStatusFromApi(bid("Allocated"), [instance("STATUS_RUNNING")], { failure: "preempted; run it again" });
    assert.equal(derived.status, TaskStatus.FAILED);
    assert.equal(derived.message, "preempted; run it again");
  });

  test("a cancel by the user wins over everything else", () => {
    assert.equal(statusOf("Allocated", ["STATUS_ERROR"], { cancelled: true, exitCode: 0 }), TaskStatus.CANCELLED);
  });

  test("a terminated bid without an exit code reads as cancelled", () => {
    assert.equal(statusOf("Terminated", ["STATUS_TERMINATED"]), TaskStatus.CANCELLED);
  });

  test("a cancel the user asked for names the end of the bid, and changes nothing while the bid lives", () => {
    const asked = { cancelRequested: true };
    assert.deepEqual(taskStatusFromApi(bid("Terminated"), [], asked), { status: TaskStatus.CANCELLED, message: "cancelled by the user" });
    assert.equal(taskStatusFromApi(bid("Terminated"), [], {}).message, "the bid was terminated before the task reported an exit code");
    assert.deepEqual(taskStatusFromApi(bid("Open"), [], asked), taskStatusFromApi(bid("Open"), [], {}));
    assert.equal(statusOf("Allocated", ["STATUS_RUNNING"], asked), TaskStatus.RUNNING);
  });
});
