// The FCP provider when things go wrong around it, against the simulator (tools/fcp-sim): a client
// SIGKILLed while its bid's POST is in flight, and logs that no line-based reader could take whole.
// Every step a user takes is a separate `flow` process pointed at the simulator by FLOW_API_URL.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { FcpSimulator } from "../../tools/fcp-sim/simulator.ts";
import { flowBin, repoRoot, runCli, simulatorEnv, startCli, tempDir, until, type CliResult } from "./helpers.ts";

const execFileAsync = promisify(execFile);

let sim: FcpSimulator;
let root: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  root = tempDir("flow-fcp-robust-");
  sim = await FcpSimulator.start({ allocationDelayMs: 50, bootStepMs: 30, stateDir: join(root, "sim") });
  env = simulatorEnv(sim, root);
});

after(async () => {
  await sim.close();
  rmSync(root, { recursive: true, force: true });
});

const flow = (args: string[]): Promise<CliResult> => runCli(args, { cwd: repoRoot, env });

/**
 * Starts `args`, lets its bid's POST take effect while holding the answer back, and SIGKILLs the
 * client then: it never learns the bid's FID. Returns the bid left behind.
 */
async function killedMidPost(args: string[]): Promise<string> {
  const earlier = new Set(sim.bids().map((bid) => bid.fid));
  sim.faults.holdNext({ method: "POST", path: "/v2/spot/bids", count: 1, ms: 120_000 });
  const client = startCli(args, { cwd: repoRoot, env });
  await until(() => sim.bids().some((bid) => !earlier.has(bid.fid)), "the bid to be placed", 60_000);
  client.child.kill("SIGKILL");
  await client.done;
  const [orphan] = sim.bids().filter((bid) => !earlier.has(bid.fid));
  assert.ok(!client.output().includes(orphan!.fid), "the client never saw the bid's FID");
  assert.notEqual(sim.bids().find((bid) => bid.fid === orphan!.fid)?.status, "Terminated", "nothing cancelled it yet");
  return orphan!.fid;
}

describe("a client killed while its bid is being placed", () => {
  it("leaves a function bid that the next run finds by name and cancels", async () => {
    const orphan = await killedMidPost(["run", "examples/hello.ts::square", "4"]);
    const next = await flow(["run", "examples/hello.ts::square", "5"]);
    assert.equal(next.stdout.trim(), "25", next.stderr);
    assert.match(next.stderr, new RegExp(`cancelled bid ${orphan}, left open by an earlier run`));
    assert.equal(sim.bids().find((bid) => bid.fid === orphan)?.status, "Terminated");
    await until(() => !sim.liveInstances().some((instance) => instance.bid === orphan), "the orphan's instance to end", 30_000);
  });

  it("leaves a task that waits for its secrets, which the next task submit finds by name and cancels", async () => {
    const orphan = await killedMidPost(["run", "sleep 600", "-i", "a100", "--env", "HF_TOKEN=hf_e2e"]);
    const next = await flow(["run", "echo next", "-i", "a100", "--wait"]);
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stderr, new RegExp(`cancelled bid ${orphan}, left open by an earlier run`));
    assert.equal(sim.bids().find((bid) => bid.fid === orphan)?.status, "Terminated");
  });

  it("leaves a task that needs nothing more from it running, shown by flow list and cancellable", async () => {
    const orphan = await killedMidPost(["run", "sleep 600", "-i", "a100"]);
    const listed = await flow(["list"]);
    assert.match(listed.stdout, new RegExp(orphan), listed.stderr);
    const cancelled = await flow(["cancel", orphan]);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.equal(sim.bids().find((bid) => bid.fid === orphan)?.status, "Terminated");
  });
});

describe("logs on fcp", () => {
  it("reads a progress bar's last redraws from the end of the file, and follows them as lines", async () => {
    const command = "for i in $(seq 1 20000); do printf '\\r%d/20000|' $i; done; printf '\\ndone\\n'";
    const run = await flow(["run", command, "-i", "a100", "--wait"]);
    assert.equal(run.code, 0, run.stderr);
    const taskId = /bid_\w+/.exec(run.stdout)![0];
    const tail = await flow(["logs", taskId, "--tail", "3"]);
    assert.equal(tail.stdout, "19999/20000|\n20000/20000|\ndone\n", tail.stderr);
    const followed = await flow(["logs", taskId, "-f", "--tail", "2"]);
    assert.equal(followed.stdout, "20000/20000|\ndone\n", followed.stderr);
    const everything = await flow(["logs", taskId, "-f", "--tail", "1000000"]);
    const lines = everything.stdout.split("\n");
    assert.equal(lines.length, 20_002, everything.stderr);
    assert.deepEqual([lines[0], lines[19_999], lines[20_000]], ["1/20000|", "20000/20000|", "done"]);
    await flow(["cancel", taskId]);
  });

  it("a follower that reads slowly still gets every line, however long after the task ended", async () => {
    // About 11 MB: more than the SSH window and the client's backlog hold while the reader sleeps.
    const run = await flow(["run", "seq 1 1500000", "-i", "a100", "--wait"]);
    assert.equal(run.code, 0, run.stderr);
    const taskId = /bid_\w+/.exec(run.stdout)![0];
    // The reader sleeps before it reads anything, long after the task's end marker appeared.
    const pipeline = `${JSON.stringify(process.execPath)} ${JSON.stringify(flowBin)} logs ${taskId} -f --tail 100000000 | { sleep 3; awk 'END { print NR, $0 }'; }`;
    const { stdout } = await execFileAsync("bash", ["-c", pipeline], { cwd: repoRoot, env: { ...process.env, ...env } });
    assert.equal(stdout, "1500000 1500000\n");
    await flow(["cancel", taskId]);
  });
});
