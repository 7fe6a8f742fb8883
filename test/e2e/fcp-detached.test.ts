// Detached calls on the FCP provider, against the simulator (tools/fcp-sim): real HTTP, real bash
// running the startup script, real SSH and SFTP, real agents on the "instances". Each execution
// appends a line to a file, so the tests can prove that a call ran once; the simulator's ledger
// proves that nothing is left billing.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AgentLostError, CancelledError, Flow, FunctionCall } from "flow-sdk";
import { DetachedCall, type DetachedCallRecord } from "../../src/calls/detached-call.ts";
import { FcpSimulator } from "../../tools/fcp-sim/simulator.ts";
import { repoRoot, runCli, simulatorEnv, spawnDetachedThenKillCaller, tempDir, until, type CliResult } from "./helpers.ts";

const root = tempDir("flow-fcp-detached-");
const log = join(root, "executions.log");
writeFileSync(log, "");
process.env.DURABLE_LOG = log;
const { app, slowSquare } = await import("../fixtures/e2e/durable.ts");
const entry = join(repoRoot, "test/fixtures/e2e/durable.ts");
const count = (line: string) => readFileSync(log, "utf8").split("\n").filter((l) => l === line).length;

let sim: FcpSimulator;
let env: NodeJS.ProcessEnv;

before(async () => {
  sim = await FcpSimulator.start({ allocationDelayMs: 50, bootStepMs: 30, stateDir: join(root, "sim") });
  env = { ...simulatorEnv(sim, root), DURABLE_LOG: log };
  // This process's own calls (app.run, FunctionCall.fromId) go to the simulator too.
  Object.assign(process.env, env);
});

after(async () => {
  await sim.close();
  rmSync(root, { recursive: true, force: true });
});

const flow = (args: string[]): Promise<CliResult> => runCli(args, { cwd: repoRoot, env });

/** Where the call runs on the cloud, from its record. */
function placeOf(call: { record: DetachedCallRecord }): { bidFid: string; instanceFid: string } {
  assert.ok(call.record.provider === "fcp", `an fcp call, not ${call.record.provider}`);
  return call.record;
}

function pick(value: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((key) => [key, value[key]]));
}

/** The call's instance is gone and its bid has ended: nothing of it bills. */
async function released(bidFid: string, what: string): Promise<void> {
  await until(() => !sim.liveInstances().some((instance) => instance.bid === bidFid) && sim.bids().find((bid) => bid.fid === bidFid)?.status === "Terminated", what, 30_000);
}

describe("detached calls on fcp", () => {
  it("survive their caller being SIGKILLed: a new process fetches the result, the call ran once, and the fetch cancels the bid", async () => {
    const id = await spawnDetachedThenKillCaller({ dir: root, entry, env, resultWindowMs: 600_000, x: 12, ms: 1500 });

    const call = FunctionCall.fromId<{ square: number; bytes: Uint8Array }>(id);
    const { bidFid } = placeOf(call);
    assert.equal(statSync(join(root, "home", ".flow", "calls", id, "record.json")).mode & 0o777, 0o600, "the record holds the agent's secret");
    assert.ok(sim.liveInstances().some((instance) => instance.bid === bidFid), "the instance outlives its caller");

    const result = await flow(["result", id, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).square, 144);
    assert.equal(count("square 12"), 1, "the call ran once");
    await released(bidFid, "the fetch to cancel the call's bid, well before its 10-minute window");
    // The outcome was copied here: it outlives the instance.
    const value = await call.result();
    assert.equal(value.square, 144);
    assert.deepEqual([...value.bytes], [12, 1, 2]);
    assert.equal(call.status, "completed");
  });

  it("power off once the result window is over when nobody fetched the result; fetching then says so and what to change", async () => {
    // slowSquare's result window is 1 s.
    const call = await app.run(() => slowSquare.spawnDetached(5, 10), { entry });
    const { bidFid } = placeOf(call);
    await released(bidFid, "the instance to power off at the end of the result window, ending its bid");
    await assert.rejects(call.result(), (error: unknown) => {
      assert.ok(error instanceof AgentLostError, String(error));
      assert.match(error.message, /was terminated and the call's outcome was never fetched/);
      assert.match(error.message, /resultWindowMs=1000/);
      assert.match(String((error as AgentLostError).suggestions), /longer resultWindowMs/);
      return true;
    });
    assert.equal(call.status, "failed");
    assert.equal(count("square 5"), 1);
  });

  it("flow run --detach, flow status, flow logs, flow.getTask, flow list --json and flow cancel: the call is cancelled and its bid too", async () => {
    const started = await flow(["run", "test/fixtures/e2e/durable.ts::shout", "hello from a detached call", "600000", "--detach"]);
    assert.equal(started.code, 0, started.stderr);
    const id = started.stdout.trim();
    assert.match(id, /^call-[0-9a-f]{12}$/);
    const { bidFid } = placeOf(FunctionCall.fromId(id));
    for (let logs = await flow(["logs", id]); !logs.stdout.includes("hello from a detached call"); logs = await flow(["logs", id])) {
      assert.equal(logs.code, 0, logs.stderr);
    }
    const status = await flow(["status", id, "--json"]);
    assert.deepEqual(pick(JSON.parse(status.stdout), ["status", "provider", "bid"]), { status: "running", provider: "fcp", bid: bidFid }, status.stderr);
    const handle = await new Flow().getTask(id as `call-${string}`);
    assert.equal(handle.taskId, id);
    assert.equal(handle.status, "running");
    assert.match(handle.logs(), /^hello from a detached call$/m);
    const listed = await flow(["list", "--json"]);
    assert.equal(listed.code, 0, listed.stderr);
    const entry = (JSON.parse(listed.stdout) as { taskId: string; kind?: string; status: string; provider?: string; totalCost?: string }[]).find((item) => item.taskId === id);
    assert.deepEqual({ kind: entry?.kind, status: entry?.status, provider: entry?.provider }, { kind: "detached-call", status: "running", provider: "fcp" });
    // What its instance was billed so far, from the bid's pricing history.
    assert.match(entry?.totalCost ?? "", /^\$\d+\.\d\d$/);
    const table = await flow(["list"]);
    assert.match(table.stdout, new RegExp(`Detached calls[\\s\\S]*COST[\\s\\S]*${id} .* \\$\\d+\\.\\d\\d`));

    const cancelled = await flow(["cancel", id]);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.equal(cancelled.stdout.trim(), `${id} cancelled`);
    await released(bidFid, "the cancel to cancel the call's bid");
    await assert.rejects(FunctionCall.fromId(id).result(), CancelledError);
  });

  it("flow status and flow cancel ride out an SSH connection that drops while they read the call's state", async () => {
    const started = await flow(["run", "test/fixtures/e2e/durable.ts::shout", "through a drop", "600000", "--detach"]);
    assert.equal(started.code, 0, started.stderr);
    const id = started.stdout.trim();
    const { bidFid, instanceFid } = placeOf(FunctionCall.fromId(id));
    // The connection drops just as the command that reads the call's state is about to run.
    sim.faults.dropSshConnectionsAtExec(instanceFid, `${id}/state.json`);
    const status = await flow(["status", id, "--json"]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).status, "running");
    sim.faults.dropSshConnectionsAtExec(instanceFid, `${id}/state.json`);
    const cancelled = await flow(["cancel", id]);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.equal(cancelled.stdout.trim(), `${id} cancelled`);
    await released(bidFid, "the cancel to cancel the call's bid");
  });

  it("keeps waiting for a result through dropped SSH connections to its instance", async () => {
    const call = await app.run(() => slowSquare.with({ resultWindowMs: 60_000 }).spawnDetached(15, 2_500), { entry });
    const { bidFid, instanceFid } = placeOf(call);
    const value = call.result();
    // While the call runs, result() keeps one SSH connection open between its looks: each drop cuts it.
    let drops = 0;
    const dropping = setInterval(() => {
      sim.faults.dropSshConnections(instanceFid);
      if (++drops === 4) clearInterval(dropping);
    }, 500);
    try {
      assert.equal((await value).square, 225);
    } finally {
      clearInterval(dropping);
    }
    assert.equal(count("square 15"), 1);
    await released(bidFid, "the fetch to cancel the call's bid");
  });

  it("copies a call's output once when several processes copy it at the same time", async () => {
    const started = await flow(["run", "test/fixtures/e2e/durable.ts::shout", "copied once", "600000", "--detach"]);
    assert.equal(started.code, 0, started.stderr);
    const id = started.stdout.trim();
    const watcher = FunctionCall.fromId(id);
    for (await watcher.refresh(); !watcher.logs().includes("copied once"); await watcher.refresh());
    // A FLOW_HOME with the call's record and nothing of it copied yet, and four handles on it, as
    // `flow logs -f` beside `flow result` and `flow status` would be.
    const home = join(root, "copiers");
    mkdirSync(join(home, "calls", id), { recursive: true });
    copyFileSync(join(root, "home", ".flow", "calls", id, "record.json"), join(home, "calls", id, "record.json"));
    const handles = Array.from({ length: 4 }, () => new DetachedCall(id, home));
    await Promise.all(handles.map((handle) => handle.refresh()));
    assert.equal(handles[0]!.logs(), "copied once\n");
    await watcher.cancel();
  });

  it("reports a call whose instance was preempted before the outcome as failed, with the reason, without hanging", async () => {
    const call = await app.run(() => slowSquare.spawnDetached(14, 600_000), { entry });
    await until(() => count("square 14") === 1, "the call to start", 30_000);
    const { bidFid, instanceFid } = placeOf(call);
    await sim.faults.preempt(instanceFid);
    await assert.rejects(call.result(), (error: unknown) => {
      assert.ok(error instanceof AgentLostError, String(error));
      assert.match(error.message, new RegExp(`instance ${instanceFid} was preempted before the call's outcome was written`));
      return true;
    });
    assert.equal(call.status, "failed");
    // A preempted bid goes back to Open: the client that saw it gone cancels it.
    await released(bidFid, "the preempted call's bid to be cancelled");
  });

  it("refuses an unknown id, naming it", async () => {
    const result = await flow(["result", "call-0123456789ab"]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /No detached call call-0123456789ab on this machine/);
  });
});
