import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as sdk from "../../src/index.ts";
import { SDK_EXPORTS } from "../../src/app/sdk-exports.ts";
import { agentSdk } from "../../remote-agent/agent-sdk.ts";

describe("the names a bundle may import from flow-sdk", () => {
  test("are exactly the SDK's public values", () => {
    assert.deepEqual([...SDK_EXPORTS].sort(), Object.keys(sdk).sort());
  });

  test("the agent publishes each: its own copy of what functions use, a stand-in that explains itself for the rest", () => {
    assert.deepEqual(Object.keys(agentSdk).sort(), [...SDK_EXPORTS].sort());
    for (const name of ["App", "currentCall", "enter", "exit", "registerClass", "FlowError", "FunctionTimeoutError", "TaskStatus"] as const) {
      assert.equal(agentSdk[name], sdk[name], name);
    }
    const Flow = agentSdk["Flow"] as new () => unknown;
    assert.throws(() => new Flow(), { name: "FlowError", message: /^Flow is not available inside a remote function/ });
    assert.throws(() => (agentSdk["invoke"] as () => unknown)(), { name: "FlowError", message: /^invoke is not available inside a remote function/ });
  });
});
