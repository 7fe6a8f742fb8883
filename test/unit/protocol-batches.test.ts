// The messages of map's batches: `calls` (client → agent) and `results` (agent → client).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AgentMessage, ClientMessage, MAX_BATCH_CALLS } from "../../src/runtime/protocol.ts";

const call = (callId: string) => ({ callId, args: { json: [1] } });

describe("calls", () => {
  test("accepts a batch of calls of one function, with or without an instance's init", () => {
    const message = { type: "calls", functionId: "f", calls: [call("a"), call("b")] };
    assert.deepEqual(ClientMessage.parse(message), message);
    const withInit = { ...message, init: { json: [2] } };
    assert.deepEqual(ClientMessage.parse(withInit), withInit);
  });

  const invalid: [string, unknown, (string | number)[]][] = [
    ["no calls", { type: "calls", functionId: "f", calls: [] }, ["calls"]],
    ["too many calls", { type: "calls", functionId: "f", calls: Array.from({ length: MAX_BATCH_CALLS + 1 }, (_, i) => call(`c${i}`)) }, ["calls"]],
    // The agent joins a batch's ids with newlines on its worker link.
    ["a call id with a newline", { type: "calls", functionId: "f", calls: [call("a"), call("b\nc")] }, ["calls", 1, "callId"]],
    ["an empty call id", { type: "calls", functionId: "f", calls: [call("")] }, ["calls", 0, "callId"]],
    ["a call without args", { type: "calls", functionId: "f", calls: [{ callId: "a" }] }, ["calls", 0, "args"]],
    ["no functionId", { type: "calls", calls: [call("a")] }, ["functionId"]],
  ];
  for (const [name, message, path] of invalid) {
    test(`rejects ${name}`, () => {
      const result = ClientMessage.safeParse(message);
      assert.equal(result.success, false);
      // One field, one or more complaints (an empty id is also one without a character but a newline).
      assert.deepEqual([...new Set(result.error?.issues.map((issue) => JSON.stringify(issue.path)))], [JSON.stringify(path)]);
    });
  }
});

describe("results", () => {
  test("accepts the results of several calls", () => {
    const message = { type: "results", results: [{ callId: "a", value: { json: 1 } }, { callId: "b", value: { json: { x: [1] }, meta: { v: 1 } } }] };
    assert.deepEqual(AgentMessage.parse(message), message);
  });

  test("rejects an empty one and a result without its value", () => {
    assert.deepEqual(AgentMessage.safeParse({ type: "results", results: [] }).error?.issues.map((i) => i.path), [["results"]]);
    assert.deepEqual(AgentMessage.safeParse({ type: "results", results: [{ callId: "a" }] }).error?.issues.map((i) => i.path), [["results", 0, "value"]]);
  });
});
