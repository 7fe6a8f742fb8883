import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { failureKind, nextDelayMs, retryPolicy } from "../../src/app/retry-policy.ts";
import { AgentLostError, CancelledError, FunctionCrashedError, FunctionTimeoutError, ProviderError } from "../../src/errors.ts";

const crash = (crashKind: "exit" | "out-of-memory" | "uncaught-exception" | "unhandled-rejection" | "signal") =>
  new FunctionCrashedError("crashed", { crash: crashKind });

describe("retry policy", () => {
  test("each failure falls in one kind", () => {
    assert.equal(failureKind(new AgentLostError("gone")), "infrastructure");
    assert.equal(failureKind(new ProviderError("no capacity")), "infrastructure");
    assert.equal(failureKind(crash("out-of-memory")), "crash");
    assert.equal(failureKind(new TypeError("bug")), "exception");
    assert.equal(failureKind(new FunctionTimeoutError("slow")), "timeout");
    assert.equal(failureKind(new CancelledError("stop")), "cancelled");
  });

  test("by default only infrastructure is retried: a crash of the function's own code is not", () => {
    const policy = retryPolicy({});
    assert.equal(nextDelayMs(policy, new AgentLostError("the connection closed (1006)"), 1), 1000);
    for (const kind of ["exit", "out-of-memory", "uncaught-exception", "unhandled-rejection", "signal"] as const) {
      assert.equal(nextDelayMs(policy, crash(kind), 1), undefined, kind);
    }
    assert.equal(nextDelayMs(retryPolicy({ retryOn: ["crash"] }), crash("exit"), 1), 1000);
  });

  test("a call lost the same way twice in a row (killed from outside by the same signal) is not retried again", () => {
    const policy = retryPolicy({});
    const killed = () => new AgentLostError("killed by SIGKILL", { signal: "SIGKILL" });
    assert.equal(nextDelayMs(policy, killed(), 1), 1000);
    assert.equal(nextDelayMs(policy, killed(), 2, killed()), undefined);
    // Lost differently, or without a signal to compare: still infrastructure.
    assert.equal(nextDelayMs(policy, killed(), 2, new AgentLostError("the connection closed")), 2000);
    assert.equal(nextDelayMs(policy, new AgentLostError("the connection closed"), 2, new AgentLostError("the connection closed")), 2000);
    assert.equal(nextDelayMs(policy, new AgentLostError("x", { signal: "SIGTERM" }), 2, killed()), 2000);
  });
});
