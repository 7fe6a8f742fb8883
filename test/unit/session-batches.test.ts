// The client end of map's batching (SessionCallOptions.batch), against a stub agent that records
// what arrives: calls started in one turn go out as `calls` messages of a few dozen, a call
// cancelled before its batch went out is left out of it (and costs no `cancel`), and a `results`
// message settles each call it names.
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, describe, test } from "node:test";
import { WebSocketServer, type WebSocket } from "ws";
import { CancelledError } from "../../src/errors.ts";
import { PROTOCOL_VERSION, SESSION_HEADER } from "../../src/runtime/protocol.ts";
import { AgentSession } from "../../src/runtime/session.ts";

type Received = { type: string; callId?: string; functionId?: string; calls?: { callId: string; args: { json: unknown } }[] };

let wss: WebSocketServer;
let received: Received[] = [];
let agent: WebSocket | undefined;

before(async () => {
  wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  wss.on("headers", (headers) => headers.push(`${SESSION_HEADER}: stub-session 0`));
  wss.on("connection", (ws) => {
    agent = ws;
    ws.on("message", (data, isBinary) => {
      if (isBinary) return; // the bytes of a call's binary arguments
      const message = JSON.parse(String(data)) as Received;
      if (message.type === "init") ws.send(JSON.stringify({ type: "ready", protocol: PROTOCOL_VERSION, pid: 1, nodeVersion: process.version, functions: [{ id: "f", kind: "function", index: 0 }] }));
      else received.push(message);
    });
  });
  await once(wss, "listening");
});

after(() => wss.close());

async function connect(maxPayloadBytes?: number): Promise<AgentSession> {
  received = [];
  const address = wss.address() as { port: number };
  return AgentSession.connect({ url: `ws://127.0.0.1:${address.port}`, secret: "s", onLog: () => {}, ...(maxPayloadBytes ? { maxPayloadBytes } : {}) });
}

/** Until `count` messages have arrived at the stub agent. */
async function arrived(count: number): Promise<void> {
  while (received.length < count) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe("AgentSession batches", () => {
  test("calls started in one turn go out as `calls` messages of at most 32, and one `results` message settles them", async () => {
    const session = await connect();
    try {
      const results = Array.from({ length: 100 }, (_, i) => session.call("f", [i], { batch: true }));
      await arrived(4);
      assert.deepEqual(received.map((m) => m.type), ["calls", "calls", "calls", "calls"]);
      assert.deepEqual(received.map((m) => m.calls!.length), [32, 32, 32, 4]);
      const calls = received.flatMap((m) => m.calls!);
      assert.deepEqual(calls.map((c) => c.args.json), Array.from({ length: 100 }, (_, i) => [i]));
      agent!.send(JSON.stringify({ type: "results", results: calls.map((c) => ({ callId: c.callId, value: { json: (c.args.json as number[])[0]! * 2 } })) }));
      assert.deepEqual(await Promise.all(results), Array.from({ length: 100 }, (_, i) => i * 2));
    } finally {
      await session.disconnect();
    }
  });

  test("a call cancelled before its batch goes out is left out of it, without a `cancel` message", async () => {
    const session = await connect();
    try {
      const controller = new AbortController();
      const kept = session.call("f", [1], { batch: true });
      const cancelled = session.call("f", [2], { batch: true, signals: [controller.signal] });
      controller.abort(new CancelledError("not wanted"));
      await assert.rejects(cancelled, { name: "CancelledError", message: "not wanted" });
      await arrived(1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(received.map((m) => m.type), ["calls"]);
      assert.deepEqual(received[0]!.calls!.map((c) => c.args.json), [[1]]);
      agent!.send(JSON.stringify({ type: "results", results: [{ callId: received[0]!.calls![0]!.callId, value: { json: "one" } }] }));
      assert.equal(await kept, "one");
    } finally {
      await session.disconnect();
    }
  });

  test("a batch over the payload limit goes out call by call, so only an input too large by itself fails", async () => {
    const session = await connect(400);
    try {
      const fitting = ["a", "b", "c"].map((letter) => session.call("f", [letter.repeat(150)], { batch: true }));
      const tooLarge = session.call("f", ["d".repeat(500)], { batch: true });
      await assert.rejects(tooLarge, { name: "PayloadTooLargeError" });
      await arrived(3);
      assert.deepEqual(received.map((m) => m.type), ["call", "call", "call"]);
      for (const message of received) agent!.send(JSON.stringify({ type: "result", callId: message.callId, value: { json: "ok" } }));
      assert.deepEqual(await Promise.all(fitting), ["ok", "ok", "ok"]);
    } finally {
      await session.disconnect();
    }
  });

  test("without `batch`, and for arguments with binary parts, a call goes out on its own", async () => {
    const session = await connect();
    try {
      void session.call("f", [1]).catch(() => {});
      void session.call("f", [new Uint8Array([1, 2, 3])], { batch: true }).catch(() => {});
      await arrived(2);
      assert.deepEqual(received.map((m) => m.type), ["call", "call"]);
    } finally {
      await session.disconnect();
    }
  });
});
