// User code that spins, crashes or floods, through real agents: what the caller sees, and that
// the agent's control plane (heartbeats, other calls) carries on.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FunctionCrashedError, FunctionTimeoutError } from "flow-sdk";
import { buildArchive } from "../../src/bundler/index.ts";
import { LocalProvider } from "../../src/providers/local/local-provider.ts";
import { AgentSession } from "../../src/runtime/session.ts";
import { SDK_EXPORTS } from "../../src/app/sdk-exports.ts";
import { app, compute, hog, misbehave, spin, tunables } from "../fixtures/e2e/hardening.ts";
import { isRunning, repoRoot, tempDir, until } from "./helpers.ts";

const attempts = (dir: string) => readFileSync(join(dir, "attempts"), "utf8").trim().split("\n");

// One app run for all of them: each function has agents of its own, so the groups run side by side.
describe("agents whose user code misbehaves", { concurrency: true }, () => {
  let endRun: () => void;
  let run: Promise<unknown>;
  before(() => new Promise<void>((ready) => (run = app.run(() => new Promise<void>((end) => ((endRun = end), ready()))))));
  after(async () => {
    endRun();
    await run;
  });

  describe("user code that does not yield", { concurrency: false }, () => {
    it("20 s of synchronous computation succeeds: heartbeats are answered meanwhile", async () => {
      assert.equal(await compute.remote(20_000), true);
    });

    it("timeoutMs stops a `while (true) {}`, and the next call on the same agent succeeds", async () => {
      const dir = tempDir();
      await assert.rejects(spin.remote(dir, true), FunctionTimeoutError);
      const spinner = Number(readFileSync(join(dir, "spin-pid"), "utf8"));
      const next = await spin.remote(dir, false);
      assert.notEqual(next, spinner, "a new process runs the next call");
      await until(() => !isRunning(spinner), "the spinning process to be killed");
    });
  });

  it("the agent's processes start with large buffers on huge pages; the user's code does not see the variable", async () => {
    assert.deepEqual(await tunables.remote(), { seen: null, worker: "glibc.malloc.hugetlb=1", controlPlane: "glibc.malloc.hugetlb=1" });
  });

  describe("user code that crashes its process: the cause, once, not retried", { concurrency: false }, () => {
    it("process.exit(3): FunctionCrashedError with the exit code and the last stderr lines", async () => {
      const dir = tempDir();
      const error = await misbehave.remote(dir, "exit").catch((e: unknown) => e);
      assert.ok(error instanceof FunctionCrashedError, String(error));
      assert.equal(error.crash, "exit");
      assert.equal(error.exitCode, 3);
      assert.match(error.message, /misbehave: its process exited with code 3/);
      assert.match(error.stderrTail, /giving up: the config is missing/);
      assert.deepEqual(attempts(dir), ["exit"]);
    });

    it("out of memory: FunctionCrashedError naming the heap limit", async () => {
      const dir = tempDir();
      const error = await hog.remote(dir).catch((e: unknown) => e);
      assert.ok(error instanceof FunctionCrashedError, String(error));
      assert.equal(error.crash, "out-of-memory");
      assert.match(error.message, /ran out of JavaScript heap memory \(its limit is \d+ MB\)/);
      assert.match(error.describe(), /--max-old-space-size/);
      assert.deepEqual(attempts(dir), ["hog"]);
    });

    it("an uncaught exception from a timer: that call fails with it and its stack; a concurrent call is retried and succeeds", async () => {
      const dir = tempDir();
      const [thrown, other] = await Promise.all([misbehave.remote(dir, "throw-later").catch((e: unknown) => e), misbehave.remote(dir, "wait")]);
      assert.ok(thrown instanceof FunctionCrashedError, String(thrown));
      assert.equal(thrown.crash, "uncaught-exception");
      const cause = thrown.cause as Error;
      assert.ok(cause instanceof TypeError);
      assert.equal(cause.message, "thrown from a timer");
      assert.match(cause.stack ?? "", /hardening\.ts:\d+:\d+\) \[remote/);
      assert.equal(other, "waited");
      assert.equal(attempts(dir).filter((how) => how === "throw-later").length, 1);
    });

    it("an unhandled rejection fails only the call it came from; a concurrent call is untouched", async () => {
      const dir = tempDir();
      const [rejected, other] = await Promise.all([misbehave.remote(dir, "reject").catch((e: unknown) => e), misbehave.remote(dir, "wait")]);
      assert.ok(rejected instanceof FunctionCrashedError, String(rejected));
      assert.equal(rejected.crash, "unhandled-rejection");
      assert.ok(rejected.cause instanceof RangeError);
      assert.equal((rejected.cause as Error).message, "nobody awaits me");
      assert.equal(other, "waited");
      assert.deepEqual(attempts(dir).sort(), ["reject", "wait"], "nothing was retried");
    });
  });
});

describe("a flood of output", () => {
  it("a function printing a million lines: every line arrives, in order, and memory stays bounded", async () => {
    const archive = await buildArchive({ entry: join(repoRoot, "test/fixtures/e2e/hardening.ts"), sdkExports: SDK_EXPORTS });
    const provider = new LocalProvider();
    const endpoint = await provider.startAgent({ label: "chatter", archive });
    let next = 0;
    let partial = "";
    let disorder: string | undefined;
    const session = await AgentSession.connect({
      url: endpoint.url,
      secret: endpoint.secret,
      onLog: (_callId, stream, data) => {
        if (stream !== "stdout") return;
        const lines = (partial + data).split("\n");
        partial = lines.pop()!;
        for (const line of lines) {
          if (line !== `line ${next}`) disorder ??= `expected "line ${next}", got "${line}"`;
          next++;
        }
      },
    });
    try {
      const workerPeak = (await session.call("chatter", [1_000_000])) as number;
      await until(() => next === 1_000_000, "every line");
      assert.equal(disorder, undefined);
      assert.ok(workerPeak < 400 << 20, `the worker peaked at ${workerPeak >> 20} MiB`);
      const controlPlanePeak = peakRss(session.pid);
      assert.ok(controlPlanePeak < 400 << 20, `the control plane peaked at ${controlPlanePeak >> 20} MiB`);
    } finally {
      await session.close();
      await provider.shutdown();
    }
  });
});

/** A process's peak resident set size, in bytes (Linux). */
function peakRss(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match![1]) * 1024;
}
