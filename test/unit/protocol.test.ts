import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AgentMessage, ClientMessage, Failure, PROTOCOL_VERSION, bearer } from "../../src/runtime/protocol.ts";

type Message = Record<string, unknown>;

/** One valid message of every type. */
const validClient: Record<string, Message> = {
  init: { type: "init", protocol: 1, env: { A: "1" }, secrets: { TOKEN: "s3cret" }, exposeExports: true },
  call: { type: "call", callId: "c1", functionId: "square", args: { json: [3], meta: { values: {} } } },
  "call with blobs": {
    type: "call",
    callId: "c2",
    functionId: "Model.predict",
    args: { json: [] },
    blobs: [0, 5, 3 * 1024 * 1024],
    blobStream: 7,
  },
  cancel: { type: "cancel", callId: "c1", reason: "user" },
  "cancel without reason": { type: "cancel", callId: "c1" },
};

const validAgent: Record<string, Message> = {
  ready: {
    type: "ready",
    protocol: 1,
    pid: 4242,
    nodeVersion: "v20.11.0",
    functions: [
      { id: "square", kind: "function", index: 0 },
      { id: "Model.add", kind: "static-method", index: 1 },
      { id: "Model.predict", kind: "method", index: 2 },
      { id: "train", kind: "export", index: 3 },
    ],
  },
  "init-error": { type: "init-error", error: { name: "SyntaxError", message: "Unexpected token" } },
  started: { type: "started", callId: "c1" },
  log: { type: "log", callId: "c1", stream: "stdout", data: "hello\n" },
  "log outside a call": { type: "log", callId: null, stream: "stderr", data: "top level\n" },
  result: { type: "result", callId: "c1", value: { json: 9 } },
  "result with blobs": { type: "result", callId: "c1", value: { json: null }, blobs: [1, 2], blobStream: 1 },
  error: {
    type: "error",
    callId: "c1",
    error: { name: "Error", message: "boom", stack: "Error: boom\n    at x", props: { code: "E_X" } },
    reason: "exception",
  },
};

function without(message: Message, key: string): Message {
  const copy = { ...message };
  delete copy[key];
  return copy;
}

/** Invalid messages, each with the path zod reports for it. */
const invalidClient: [string, unknown, (string | number)[]][] = [
  ["init: protocol version 2", { ...validClient.init, protocol: 2 }, ["protocol"]],
  ["init: protocol version as string", { ...validClient.init, protocol: "1" }, ["protocol"]],
  ["init: missing protocol", without(validClient.init!, "protocol"), ["protocol"]],
  ["init: missing env", without(validClient.init!, "env"), ["env"]],
  ["init: missing secrets", without(validClient.init!, "secrets"), ["secrets"]],
  ["init: non-string env value", { ...validClient.init, env: { A: 1 } }, ["env", "A"]],
  ["call: empty callId", { ...validClient.call, callId: "" }, ["callId"]],
  ["call: callId of 129 chars", { ...validClient.call, callId: "x".repeat(129) }, ["callId"]],
  ["call: missing callId", without(validClient.call!, "callId"), ["callId"]],
  ["call: missing functionId", without(validClient.call!, "functionId"), ["functionId"]],
  ["call: empty functionId", { ...validClient.call, functionId: "" }, ["functionId"]],
  ["call: missing args", without(validClient.call!, "args"), ["args"]],
  ["call: negative blob length", { ...validClient["call with blobs"], blobs: [1, -1] }, ["blobs", 1]],
  ["call: fractional blob length", { ...validClient["call with blobs"], blobs: [1.5] }, ["blobs", 0]],
  ["call: blobStream 0", { ...validClient["call with blobs"], blobStream: 0 }, ["blobStream"]],
  ["cancel: empty callId", { ...validClient.cancel, callId: "" }, ["callId"]],
  ["cancel: missing callId", without(validClient.cancel!, "callId"), ["callId"]],
  ["unknown type", { type: "hello", callId: "c1" }, ["type"]],
  ["missing type", without(validClient.call!, "type"), ["type"]],
  ["agent message sent to the agent", validAgent.started, ["type"]],
];

const invalidAgent: [string, unknown, (string | number)[]][] = [
  ["ready: protocol version 0", { ...validAgent.ready, protocol: 0 }, ["protocol"]],
  ["ready: missing protocol", without(validAgent.ready!, "protocol"), ["protocol"]],
  ["ready: missing functions", without(validAgent.ready!, "functions"), ["functions"]],
  ["ready: missing nodeVersion", without(validAgent.ready!, "nodeVersion"), ["nodeVersion"]],
  ["ready: fractional pid", { ...validAgent.ready, pid: 1.5 }, ["pid"]],
  [
    "ready: unknown function kind",
    { ...validAgent.ready, functions: [{ id: "f", kind: "lambda", index: 0 }] },
    ["functions", 0, "kind"],
  ],
  [
    "ready: negative function index",
    { ...validAgent.ready, functions: [{ id: "f", kind: "function", index: -1 }] },
    ["functions", 0, "index"],
  ],
  ["init-error: missing error", without(validAgent["init-error"]!, "error"), ["error"]],
  ["init-error: error without message", { type: "init-error", error: { name: "Error" } }, ["error", "message"]],
  ["started: empty callId", { type: "started", callId: "" }, ["callId"]],
  ["started: missing callId", { type: "started" }, ["callId"]],
  ["log: missing callId (null is required, not absent)", without(validAgent.log!, "callId"), ["callId"]],
  ["log: unknown stream", { ...validAgent.log, stream: "stdin" }, ["stream"]],
  ["log: missing data", without(validAgent.log!, "data"), ["data"]],
  ["result: empty callId", { ...validAgent.result, callId: "" }, ["callId"]],
  ["result: missing value", without(validAgent.result!, "value"), ["value"]],
  ["result: negative blob length", { ...validAgent["result with blobs"], blobs: [-3] }, ["blobs", 0]],
  ["result: negative blobStream", { ...validAgent["result with blobs"], blobStream: -1 }, ["blobStream"]],
  ["error: missing reason", without(validAgent.error!, "reason"), ["reason"]],
  ["error: unknown reason", { ...validAgent.error, reason: "weather" }, ["reason"]],
  ["error: missing error", without(validAgent.error!, "error"), ["error"]],
  ["error: empty callId", { ...validAgent.error, callId: "" }, ["callId"]],
  ["client message sent to the client", validClient.cancel, ["type"]],
];

describe("ClientMessage", () => {
  for (const [name, message] of Object.entries(validClient)) {
    test(`accepts ${name}`, () => {
      const result = ClientMessage.safeParse(message);
      assert.ok(result.success, result.success ? "" : result.error.message);
      assert.deepEqual(result.data, message);
    });
  }

  test("init: exposeExports defaults to false", () => {
    const parsed = ClientMessage.parse(without(validClient.init!, "exposeExports"));
    assert.equal(parsed.type, "init");
    assert.equal(parsed.type === "init" && parsed.exposeExports, false);
  });

  test("the protocol version is 1", () => {
    assert.equal(PROTOCOL_VERSION, 1);
  });

  for (const [name, message, path] of invalidClient) {
    test(`rejects ${name}`, () => {
      const result = ClientMessage.safeParse(message);
      assert.equal(result.success, false);
      assert.deepEqual(result.error?.issues.map((issue) => issue.path), [path]);
    });
  }
});

describe("AgentMessage", () => {
  for (const [name, message] of Object.entries(validAgent)) {
    test(`accepts ${name}`, () => {
      const result = AgentMessage.safeParse(message);
      assert.ok(result.success, result.success ? "" : result.error.message);
      assert.deepEqual(result.data, message);
    });
  }

  for (const [name, message, path] of invalidAgent) {
    test(`rejects ${name}`, () => {
      const result = AgentMessage.safeParse(message);
      assert.equal(result.success, false);
      assert.deepEqual(result.error?.issues.map((issue) => issue.path), [path]);
    });
  }
});

describe("Failure", () => {
  const nested: Failure = {
    name: "AggregateError",
    message: "all failed",
    stack: "AggregateError: all failed\n    at main",
    props: { code: "E_ALL", attempt: 3 },
    cause: {
      name: "TypeError",
      message: "level 1",
      cause: {
        name: "RangeError",
        message: "level 2",
        cause: { value: { reason: "a thrown plain object" } },
      },
    },
    errors: [
      { name: "Error", message: "first", cause: { value: "a thrown string" } },
      { name: "SyntaxError", message: "second", errors: [{ name: "Error", message: "deepest" }] },
    ],
  };

  test("accepts nested causes and aggregated errors, unchanged", () => {
    assert.deepEqual(Failure.parse(nested), nested);
  });

  test("accepts a cause that is a non-error value (including undefined and null)", () => {
    assert.deepEqual(Failure.parse({ name: "Error", message: "m", cause: { value: null } }), {
      name: "Error",
      message: "m",
      cause: { value: null },
    });
    assert.equal(Failure.safeParse({ name: "Error", message: "m", cause: { value: undefined } }).success, true);
  });

  const invalidFailures: [string, unknown][] = [
    ["missing name", { message: "m" }],
    ["missing message", { name: "Error" }],
    ["non-string stack", { name: "Error", message: "m", stack: 1 }],
    ["props not a record", { name: "Error", message: "m", props: "E_X" }],
    ["cause neither a Failure nor a value", { name: "Error", message: "m", cause: "boom" }],
    ["invalid cause two levels deep", { name: "Error", message: "m", cause: { name: "E", message: "m", cause: { name: "E" } } }],
    ["invalid aggregated error", { name: "Error", message: "m", errors: [{ name: "E" }] }],
  ];
  for (const [name, failure] of invalidFailures) {
    test(`rejects ${name}`, () => {
      assert.equal(Failure.safeParse(failure).success, false);
    });
  }

  test("an error message carrying a nested Failure parses as an AgentMessage", () => {
    const message = { type: "error", callId: "c9", error: nested, reason: "exception" };
    assert.deepEqual(AgentMessage.parse(message), message);
  });
});

test("bearer() formats the Authorization header value", () => {
  assert.equal(bearer("abc"), "Bearer abc");
});
