// An agent booted ahead (LocalProvider.prestart) before its code exists: it takes the archive it
// is handed later, serves calls from it, and an unused one ends with the run like any other.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { buildArchive } from "../../src/bundler/index.ts";
import { SDK_EXPORTS } from "../../src/app/sdk-exports.ts";
import { LocalProvider } from "../../src/providers/local/local-provider.ts";
import { AgentSession } from "../../src/runtime/session.ts";
import { agentPath } from "../../src/sdk-paths.ts";
import { isRunning, repoRoot, until } from "./helpers.ts";

/** The agents this process started (the test runner gives each file a process of its own). */
function children(): number[] {
  try {
    return execFileSync("pgrep", ["-P", String(process.pid), "-f", "agent.mjs"], { encoding: "utf8" }).trim().split("\n").map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

describe("agents booted ahead", { skip: process.platform !== "linux" && "uses pgrep -P" }, () => {
  it("a prestarted agent serves the archive it is given later", async () => {
    const provider = new LocalProvider();
    provider.prestart();
    const [spare] = children();
    assert.ok(spare, "the agent is started before any archive exists");
    const archive = await buildArchive({ entry: join(repoRoot, "test/fixtures/e2e/hardening.ts"), sdkExports: SDK_EXPORTS });
    const endpoint = await provider.startAgent({ label: "prestarted", archive });
    const session = await AgentSession.connect({ url: endpoint.url, secret: endpoint.secret, onLog: () => {} });
    assert.equal(session.pid, spare, "the call is served by the agent booted ahead, not a new one");
    assert.deepEqual(await session.call("echo", [{ n: [1, 2] }]), { n: [1, 2] });
    await session.close();
    await provider.shutdown();
    assert.deepEqual(children(), []);
  });

  it("an agent booted ahead and never used ends with shutdown()", async () => {
    const provider = new LocalProvider();
    provider.prestart();
    provider.prestart(); // one spare at a time
    assert.equal(children().length, 1);
    await provider.shutdown();
    await until(() => children().length === 0, "the unused agent to exit");
    provider.prestart(); // and none after shutdown
    assert.deepEqual(children(), []);
  });

  it("one whose client dies before handing it an archive exits (quietly: its stderr is gone too)", async () => {
    // A client that starts an agent ahead, then dies: the agent's stdin, stdout and stderr close.
    const client = `
      const { spawn } = await import("node:child_process");
      const agent = spawn(process.execPath, [${JSON.stringify(agentPath())}, "--archive-from-stdin", "--exit-with-stdin"], {
        env: { ...process.env, FLOW_AGENT_SECRET: "s" }, stdio: ["pipe", "pipe", "pipe"] });
      console.log(agent.pid);
      setTimeout(() => process.exit(0), 1000);`;
    const { stdout } = spawnSync(process.execPath, ["--input-type=module", "-e", client], { encoding: "utf8" });
    const agent = Number(stdout.trim());
    assert.ok(agent > 0);
    await until(() => !isRunning(agent), "the orphaned agent to exit");
  });
});
