// Detached calls on the local provider: real agent processes that outlive their caller, real
// files under FLOW_HOME, the real CLI. Each execution appends a line to a file, so the tests can
// prove that a call ran once.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { AgentLostError, CancelledError, FunctionCall, invoke, TaskNotFoundError } from "flow-sdk";
import type { DetachedCallRecord } from "../../src/calls/detached-call.ts";
import { isRunning, repoRoot, runCli, spawnDetachedThenKillCaller, tempDir, until } from "./helpers.ts";

const root = tempDir("flow-detached-");
const log = join(root, "executions.log");
writeFileSync(log, "");
process.env.DURABLE_LOG = log;
process.env.FLOW_HOME = join(root, "flow-home");
const env = { ...process.env, FLOW_PROVIDER: "local" };
const { app, diverge, slowSquare, TrainingDiverged } = await import("../fixtures/e2e/durable.ts");
const entry = join(repoRoot, "test/fixtures/e2e/durable.ts");
const count = (line: string) => readFileSync(log, "utf8").split("\n").filter((l) => l === line).length;

/** The pid of a local detached call's agent. */
function agentPidOf(call: { record: DetachedCallRecord }): number {
  assert.ok(call.record.provider === "local", `a local call, not ${call.record.provider}`);
  return call.record.agentPid;
}

describe("detached calls on the local provider", () => {
  it("flow run --detach prints an id and returns at once; flow status, flow result and flow list find it; the value is fetched again from the record", async () => {
    const gate = join(root, "gate-11");
    const started = await runCli(["run", "test/fixtures/e2e/durable.ts::gatedSquare", "11", JSON.stringify(gate), "--detach"], { cwd: repoRoot, env });
    assert.equal(started.code, 0, started.stderr);
    const id = started.stdout.trim();
    assert.match(id, /^call-[0-9a-f]{12}$/);
    const status = await runCli(["status", id, "--json"], { cwd: repoRoot, env });
    assert.equal(status.code, 0, status.stderr);
    assert.ok(["pending", "running"].includes(JSON.parse(status.stdout).status), "returned before the call ended");
    writeFileSync(gate, "");
    const result = await runCli(["result", id, "--json"], { cwd: repoRoot, env });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout).square, 121);
    assert.equal(count("square 11"), 1);
    const listed = await runCli(["list"], { cwd: repoRoot, env });
    assert.equal(listed.code, 0, listed.stderr);
    // No cost on this machine: "-", as for local tasks.
    assert.match(listed.stdout, new RegExp(`Detached calls[\\s\\S]*${id} +gatedSquare +completed +\\S+ ago +-`));
    // Fetched again from the record, whatever became of the agent.
    const call = FunctionCall.fromId<{ square: number; bytes: Uint8Array }>(id);
    assert.equal(call.status, "completed");
    const value = await call.result();
    assert.equal(value.square, 121);
    assert.ok(value.bytes instanceof Uint8Array);
  });

  it("survives its caller being SIGKILLed: a new process fetches the result, the call ran once, and the agent exits after the window", async () => {
    const id = await spawnDetachedThenKillCaller({ dir: root, entry, env, resultWindowMs: 300, x: 12, ms: 1500 });
    const call = FunctionCall.fromId<{ square: number }>(id);
    assert.equal((await call.result()).square, 144);
    assert.equal(count("square 12"), 1);
    await until(() => !isRunning(agentPidOf(call)), "the agent to exit after its result window", 30_000);
    assert.equal((await call.result()).square, 144, "the result outlives the agent");
  });

  it("invoke.spawn() detaches an export of a file that never imports flow-sdk; fromId fetches its value", async () => {
    const call = await invoke.spawn<{ epochs: number; loss: number; pid: number }>(join(repoRoot, "examples/plain.ts"), "train", { args: [3], resultWindowMs: 500 });
    assert.match(call.taskId, /^call-[0-9a-f]{12}$/);
    const value = await FunctionCall.fromId<{ epochs: number; loss: number; pid: number }>(call.taskId).result();
    assert.equal(value.epochs, 3);
    assert.equal(value.loss, 0.125);
    assert.notEqual(value.pid, process.pid);
    await until(() => !isRunning(agentPidOf(call)), "the agent to exit after its result window", 30_000);
  });

  it("rethrows the remote error with its class and cause", async () => {
    const call = await app.run(() => diverge.spawnDetached(10), { entry });
    await assert.rejects(call.result(), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.equal(error.name, "TrainingDiverged");
      assert.match(error.message, /loss is NaN/);
      assert.match(String((error.cause as Error | undefined)?.message), /learning rate 10/);
      return true;
    });
    assert.equal(call.status, "failed");
    void TrainingDiverged;
  });

  it("cancels a detached call from another handle", async () => {
    const call = await app.run(() => slowSquare.spawnDetached(13, 600_000), { entry });
    await until(() => count("square 13") === 1, "the call to start");
    await FunctionCall.fromId(call.taskId).cancel();
    assert.equal(call.status, "cancelled");
    await assert.rejects(call.result(), CancelledError);
  });

  it("reports a call whose agent was killed before the result as failed, with the reason, without hanging", async () => {
    const call = await app.run(() => slowSquare.spawnDetached(14, 600_000), { entry });
    await until(() => count("square 14") === 1, "the call to start");
    process.kill(agentPidOf(call), "SIGKILL");
    await assert.rejects(call.result(), (error: unknown) => {
      assert.ok(error instanceof AgentLostError);
      assert.match((error as Error).message, /exited before the call ended/);
      return true;
    });
    assert.equal(call.status, "failed");
  });

  it("refuses an unknown or malformed id with TaskNotFoundError naming it, and the CLI exits non-zero", async () => {
    assert.throws(() => FunctionCall.fromId("call-000000000000"), (error: unknown) => error instanceof TaskNotFoundError && /call-000000000000/.test((error as Error).message));
    assert.throws(() => FunctionCall.fromId("../etc/passwd"), (error: unknown) => error instanceof TaskNotFoundError && /\.\.\/etc\/passwd/.test((error as Error).message));
    const result = await runCli(["result", "call-nope"], { cwd: repoRoot, env });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /call-nope/);
  });
});
