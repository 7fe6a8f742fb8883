// Reconnection on the local provider: real agents, real WebSockets, a real TCP proxy that cuts
// every connection mid-call. Each execution appends a line to a file, so the tests can prove that
// no input ran twice and every result arrived once.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { AgentLostError } from "flow-sdk";
import { tempDir, until } from "./helpers.ts";
import { SeveringProvider } from "./severing-proxy.ts";

const log = join(tempDir("flow-reconnect-"), "executions.log");
process.env.DURABLE_LOG = log;
writeFileSync(log, "");
const { app, agentPidThenWait, countUp, slowSquare, triple } = await import("../fixtures/e2e/durable.ts");
const entry = join(import.meta.dirname, "../fixtures/e2e/durable.ts");

const executions = () => readFileSync(log, "utf8").split("\n").filter(Boolean);
const count = (line: string) => executions().filter((l) => l === line).length;

describe("a dropped connection on the local provider", () => {
  it("resumes a call in flight on the same agent: one execution, one result", async () => {
    const provider = new SeveringProvider();
    const result = await app.run(
      async () => {
        const call = slowSquare.remote(7, 1_500);
        await until(() => count("square 7") === 1, "the call to start");
        provider.sever();
        return call;
      },
      { provider, entry },
    );
    assert.equal(result.square, 49);
    assert.deepEqual([...result.bytes], [7, 1, 2]);
    assert.equal(count("square 7"), 1, "the call ran once");
    assert.ok(provider.connections >= 2, "the client connected again");
  });

  it("resumes a map of 1,000 inputs cut three times: every input ran once, every result arrived once", async () => {
    const provider = new SeveringProvider();
    const results = await app.run(
      async () => {
        const seen: number[] = [];
        let cuts = 0;
        for await (const value of triple.map(Array.from({ length: 1_000 }, (_, i) => i), { orderOutputs: false })) {
          seen.push(value);
          if (cuts < 3 && seen.length >= 200 * (cuts + 1)) {
            provider.sever();
            cuts++;
          }
        }
        assert.equal(cuts, 3);
        return seen;
      },
      { provider, entry },
    );
    assert.deepEqual([...results].sort((a, b) => a - b), Array.from({ length: 1_000 }, (_, i) => i * 3));
    for (let i = 0; i < 1_000; i++) assert.equal(count(`triple ${i}`), 1, `input ${i} ran once`);
    assert.ok(provider.connections >= 4);
  });

  it("resumes a stream cut mid-way, with the network down for a while: every item once, in order", async () => {
    const provider = new SeveringProvider();
    const items = await app.run(
      async () => {
        const got: number[] = [];
        for await (const item of countUp.remote(60, 20)) {
          got.push(item);
          if (got.length === 20) {
            // Down for a few reconnect attempts: the agent keeps yielding (within its credit) meanwhile.
            provider.refusing = true;
            provider.sever();
            setTimeout(() => (provider.refusing = false), 800);
          }
        }
        return got;
      },
      { provider, entry },
    );
    assert.deepEqual(items, Array.from({ length: 60 }, (_, i) => i));
    assert.equal(count("countUp"), 1);
  });

  it("resumes a stream cut silently (the agent does not notice): every item once, in order", async () => {
    const provider = new SeveringProvider();
    const items = await app.run(
      async () => {
        const got: number[] = [];
        for await (const item of countUp.remote(40, 20)) {
          got.push(item);
          if (got.length === 10) provider.sever({ silently: true });
        }
        return got;
      },
      { provider, entry },
    );
    assert.deepEqual(items, Array.from({ length: 40 }, (_, i) => i));
  });

  it("fails with AgentLostError, not a hang, when the agent process is killed under a call", async () => {
    const provider = new SeveringProvider();
    await app.run(
      async () => {
        const pid = await agentPidThenWait.remote(0);
        const call = agentPidThenWait.remote(600_000);
        await new Promise((resolve) => setTimeout(resolve, 300));
        process.kill(pid, "SIGKILL");
        await assert.rejects(call, (error: unknown) => {
          assert.ok(error instanceof AgentLostError, String(error));
          assert.match((error as Error).message, /exited \(SIGKILL\)/);
          return true;
        });
      },
      { provider, entry },
    );
  });
});
