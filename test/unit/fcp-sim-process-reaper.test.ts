// The simulator's reaper: a simulated machine's kill reaches every process of the machine, and
// nothing else, even where the machine's process group id has been given to someone else since.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, test } from "node:test";
import { procPids, procStat } from "../../src/providers/processes.ts";
import { killMachineProcesses } from "../../tools/fcp-sim/process-reaper.ts";

const MARKER = `FLOW_REAPER_TEST=${process.pid}-${Date.now()}`;
const [markerName, markerValue] = MARKER.split("=") as [string, string];

/** Live (not zombie) processes in process group `pgid`. */
function members(pgid: number): number[] {
  return procPids().filter((pid) => {
    const stat = procStat(pid);
    return stat !== undefined && stat.state !== "Z" && stat.pgid === pgid;
  });
}

/** A detached bash (its own process group) running `script`, with the marker in its environment or not. */
function group(script: string, marked: boolean): { leader: number; startTime: number } {
  const env = marked ? { ...process.env, [markerName]: markerValue } : { ...process.env };
  const child = spawn("bash", ["-c", script], { detached: true, stdio: "ignore", env });
  child.unref();
  const startTime = procStat(child.pid!)?.startTime;
  assert.ok(startTime !== undefined, "the test needs Linux /proc");
  return { leader: child.pid!, startTime };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("fcp-sim process reaper", { skip: process.platform !== "linux" && "needs Linux /proc" }, () => {
  test("kills the machine's group, an unmarked member included, while its leader is the process it started", async () => {
    // The unmarked member: `env -u` takes the marker away, as an environment-clearing program would.
    const { leader, startTime } = group(`sleep 60 & env -u ${markerName} sleep 60 & wait`, true);
    await until(() => members(leader).length === 3, "the group's three processes");
    await killMachineProcesses({ processGroup: leader, leaderStartTime: startTime, envMarkers: [MARKER] });
    assert.deepEqual(members(leader), []);
  });

  test("leaves alone a group that has the machine's old group id but nothing of the machine", async () => {
    // Stands for a process that was given the machine's group id after the machine's group emptied.
    const stranger = group("sleep 60", false);
    try {
      await killMachineProcesses({ processGroup: stranger.leader, leaderStartTime: stranger.startTime - 1, envMarkers: [MARKER] });
      assert.deepEqual(members(stranger.leader), [stranger.leader], "the reaper killed a process group that was not the machine's");
    } finally {
      process.kill(-stranger.leader, "SIGKILL");
    }
  });
});
