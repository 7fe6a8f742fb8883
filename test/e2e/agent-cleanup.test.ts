// Nothing outlives a local run: processes the user's code started (plain, detached, daemonized)
// and the agents' workspaces, however the run ends.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { buildArchive } from "../../src/bundler/index.ts";
import { LocalProvider } from "../../src/providers/local/local-provider.ts";
import { AgentSession } from "../../src/runtime/session.ts";
import { SDK_EXPORTS } from "../../src/app/sdk-exports.ts";
import { app, leaveChildren } from "../fixtures/e2e/hardening.ts";
import { isRunning, repoRoot, startCli, tempDir, until } from "./helpers.ts";

const linux = process.platform === "linux";

/** The pids `leaveChildren` wrote: a plain child, a detached one, and a daemon. */
function leftPids(dir: string): number[] {
  return readFileSync(join(dir, "pids"), "utf8").trim().split(" ").map(Number);
}

async function allGone(pids: number[]): Promise<void> {
  assert.equal(pids.length, 3);
  await until(() => pids.every((pid) => !isRunning(pid)), `processes ${pids.join(", ")} to end`);
}

describe("processes started by user code end with the run", { concurrency: true, skip: !linux && "the daemon case needs Linux (/proc)" }, () => {
  it("when the run ends normally", async () => {
    const dir = tempDir();
    const pids = (await app.run(() => leaveChildren.remote(dir, false)))!;
    assert.deepEqual(pids, leftPids(dir));
    await allGone(pids);
  });

  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    it(`when the client is stopped with ${signal}`, async () => {
      const dir = tempDir();
      const cli = startCli(["run", "test/fixtures/e2e/hardening.ts::leaveChildren", JSON.stringify(dir), "true"]);
      await until(() => existsSync(join(dir, "pids")) && readFileSync(join(dir, "pids"), "utf8").split(" ").length === 3, "the children to start", 60_000);
      const pids = leftPids(dir);
      assert.ok(pids.every(isRunning));
      cli.child.kill(signal);
      await cli.done;
      await allGone(pids);
    });
  }
});

describe("agent workspaces", { skip: !linux && "finds an agent's workspace through /proc" }, () => {
  it("an agent removes its workspace when it exits, and removes those of dead agents when it starts", async () => {
    // A workspace left by an agent that was SIGKILLed: its owner is a pid that has exited.
    const deadPid = spawnSync("true").pid!;
    const stale = join(tmpdir(), `flow-agent-stale-${deadPid}`);
    mkdirSync(join(stale, "externals/node_modules"), { recursive: true });
    writeFileSync(join(stale, ".flow-agent-owner.json"), JSON.stringify({ pid: deadPid }));
    // And an old one without an owner file.
    const unowned = join(tmpdir(), `flow-agent-unowned-${process.pid}`);
    mkdirSync(unowned, { recursive: true });
    const dayAgo = new Date(Date.now() - 24 * 3600_000);
    utimesSync(unowned, dayAgo, dayAgo);

    const archive = await buildArchive({ entry: join(repoRoot, "test/fixtures/e2e/hardening.ts"), sdkExports: SDK_EXPORTS });
    const provider = new LocalProvider();
    const endpoint = await provider.startAgent({ label: "workspace", archive });
    const session = await AgentSession.connect({ url: endpoint.url, secret: endpoint.secret, onLog: () => {} });
    const workspace = readlinkSync(`/proc/${session.pid}/cwd`);
    await session.close();
    assert.match(workspace, /flow-agent-/);
    assert.ok(existsSync(join(workspace, "manifest.json")));
    await until(() => !existsSync(stale) && !existsSync(unowned), "the stale workspaces to be removed");
    await provider.shutdown();
    assert.equal(existsSync(workspace), false, "the agent's own workspace is gone");
  });
});
