// The bids flow places for agents are told apart from tasks by their names.
import assert from "node:assert/strict";
import { test } from "node:test";
import { agentBidKind } from "../../src/providers/fcp/fcp-provider.ts";

test("names a function's agent bid and a detached call's, and nothing else", () => {
  assert.equal(agentBidKind("flow-fn-square-3f9a1c2b"), "function");
  assert.equal(agentBidKind("flow-fn-stats-describe-81cee9f4"), "function");
  assert.equal(agentBidKind("flow-call-square-381ac9f3"), "detached call");
  // A task's default name, and a user's names that only look alike.
  for (const name of ["flow-task-b2f7e7", "flow-fn-train", "flow-fn-square-3f9a1c2", "my-flow-fn-square-3f9a1c2b", "flow-fn--3f9a1c2b"]) {
    assert.equal(agentBidKind(name), undefined, name);
  }
});
