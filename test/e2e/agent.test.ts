// The agent's front door: a real agent process, real WebSockets, the session secret.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { buildArchive } from "../../src/bundler/index.ts";
import { AgentLostError } from "../../src/errors.ts";
import type { AgentEndpoint } from "../../src/providers/provider.ts";
import { LocalProvider } from "../../src/providers/local/local-provider.ts";
import { AgentSession } from "../../src/runtime/session.ts";
import { SDK_EXPORTS } from "../../src/app/sdk-exports.ts";
import { agentPath } from "../../src/sdk-paths.ts";
import { repoRoot } from "./helpers.ts";

/** The HTTP status the agent answers a WebSocket upgrade with (101 when it accepts). */
function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once("open", () => {
      ws.close();
      resolve(101);
    });
    ws.once("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once("error", reject);
  });
}

describe("agent lifetime", () => {
  it("exits by itself when no client connects within its idle timeout", async () => {
    const archive = await buildArchive({ entry: `${repoRoot}/test/fixtures/e2e/values.ts`, sdkExports: SDK_EXPORTS });
    const agent = spawn(process.execPath, [agentPath(), "--archive", archive.path, "--idle-timeout-ms", "200"], {
      env: { PATH: process.env.PATH, FLOW_AGENT_SECRET: "idle-test" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const [line] = (await once(createInterface({ input: agent.stdout! }), "line")) as [string];
    assert.equal(JSON.parse(line).event, "listening");
    const [code] = await once(agent, "exit");
    assert.equal(code, 0);
  });
});

describe("agent authentication", () => {
  const provider = new LocalProvider();
  let endpoint: AgentEndpoint;

  before(async () => {
    const archive = await buildArchive({ entry: `${repoRoot}/test/fixtures/e2e/values.ts`, sdkExports: SDK_EXPORTS });
    endpoint = await provider.startAgent({ label: "auth test", archive });
  });
  after(() => provider.shutdown());

  it("listens on loopback only", () => {
    assert.match(endpoint.url, /^ws:\/\/127\.0\.0\.1:\d+$/);
  });

  it("refuses a missing or wrong secret with 401", async () => {
    assert.equal(await upgradeStatus(endpoint.url, {}), 401);
    assert.equal(await upgradeStatus(endpoint.url, { authorization: "Bearer not-the-secret" }), 401);
    assert.equal(await upgradeStatus(endpoint.url, { authorization: endpoint.secret }), 401);
    await assert.rejects(
      AgentSession.connect({ url: endpoint.url, secret: "wrong", onLog: () => {} }),
      (error: Error) => error instanceof AgentLostError && /refused the session secret \(401\)/.test(error.message),
    );
  });

  it("accepts the right secret and serves calls", async () => {
    const session = await AgentSession.connect({ url: endpoint.url, secret: endpoint.secret, onLog: () => {} });
    try {
      assert.ok(session.functions.some((f) => f.id === "echo"));
      assert.deepEqual(await session.call("echo", [{ ok: new Set([1]) }]), { ok: new Set([1]) });
    } finally {
      await session.close();
    }
  });
});
